package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/appliance/apptest"
	"github.com/keywarden/keywarden/appliance/client"
)

// TestClusterFullJoinE2E joins two real keywardend daemons with the real
// kwctl binary: both provisioned on their own, the member given a backup
// passphrase, then a cluster fulljoin with the wrong backup passphrase
// (refused: the joiner stays as it was, the learner is removed as the
// error says) and one with the right one. Afterwards both list the same
// two voters, and the joiner is Locked and opens with the member's unlock
// passphrase (it now holds the cluster's keys, not its own).
func TestClusterFullJoinE2E(t *testing.T) {
	begin := time.Now()
	memberPeer, joinerPeer := apptest.FreeAddr(t), apptest.FreeAddr(t)
	member := apptest.Start(t, apptest.Options{Args: []string{"--peer-listen", memberPeer}})
	joiner := apptest.Start(t, apptest.Options{Args: []string{"--peer-listen", joinerPeer}})
	k := e2eKwctl{t: t, dir: t.TempDir()}
	kw := k.out
	const memberAdmin, memberUnlock = "member admin pass", "member unlock pass"
	kw(member, []string{"KEYWARDEN_UNLOCK_PASSPHRASE=" + memberUnlock, "KEYWARDEN_ADMIN_PASSPHRASE=" + memberAdmin}, "--insecure", "provision")
	kw(joiner, []string{"KEYWARDEN_UNLOCK_PASSPHRASE=joiner unlock pass", "KEYWARDEN_ADMIN_PASSPHRASE=joiner admin pass"}, "--insecure", "provision")
	err := member.Client("admin", memberAdmin).SetBackupPassphrase(apptest.Context(t), client.PassphraseChange{NewPassphrase: "backup pass"})
	if err != nil {
		t.Fatalf("set the member's backup passphrase: %v", err)
	}
	admin := []string{"KEYWARDEN_USER=admin", "KEYWARDEN_PASSPHRASE=" + memberAdmin}
	// Trust the appliances' own self-signed certificates only: fulljoin
	// must trust the CA it installs by itself.
	selfSigned := kw(member, admin, "--insecure", "config", "tls", "cert") +
		kw(joiner, []string{"KEYWARDEN_USER=admin", "KEYWARDEN_PASSPHRASE=joiner admin pass"}, "--insecure", "config", "tls", "cert")
	k.write("self-signed.pem", selfSigned)
	k.write("joiner-pass", "joiner admin pass\n")
	k.write("backup-pass", "backup pass\n")
	ca := newTestCA(t, ecKey(t), pkcs8)

	k.write("wrong-backup-pass", "not the backup pass\n")
	fulljoin := func(backupFile string) []string {
		return []string{"--ca", "self-signed.pem", "cluster", "fulljoin",
			"--member", member.URL, "--joiner", joiner.URL, "--member-peer", "https://" + memberPeer, "--joiner-peer", "https://" + joinerPeer,
			"--ca-cert", ca.certFile, "--ca-key", ca.keyFile, "--joiner-passphrase-file", "joiner-pass", "--backup-passphrase-file", backupFile, "--wait", "40s"}
	}

	// A refused join leaves the joiner as it was and says how to clean up.
	stderr := k.fail(member, admin, fulljoin("wrong-backup-pass")...)
	learner := regexp.MustCompile(`now: the joiner is unchanged \(Operational.*cluster remove ([0-9a-f]+)\) before trying again`).FindStringSubmatch(stderr)
	if learner == nil || !strings.Contains(stderr, "[1/5] member: no cluster CA yet") {
		t.Fatalf("fulljoin with a wrong backup passphrase: stderr %q, want the member certified, step 4 failed and the joiner unchanged", stderr)
	}
	k.write("trust.pem", selfSigned+ca.certPEM)
	kw(member, admin, "--ca", "trust.pem", "cluster", "remove", learner[1])
	t.Logf("refused join and removal done after %v", time.Since(begin).Round(time.Millisecond))

	// The rerun the error suggests, right after the removal: the member
	// registers the new learner (it waits out etcd's settling by itself).
	out, stderr, _ := k.exec(member, admin, fulljoin("backup-pass")...)
	m := regexp.MustCompile(`^joined: member ([0-9a-f]+) ready\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("fulljoin stdout: got %q, want \"joined: member ID ready\"\nstderr:\n%s", out, stderr)
	}
	for _, step := range []string{"[1/5] member: its cluster CA is --ca-cert already", "[2/5] joiner", "[3/5] member", "[4/5] joiner", "[5/5] waiting"} {
		if !strings.Contains(stderr, step) {
			t.Errorf("fulljoin stderr: got %q, want a line starting %q", stderr, step)
		}
	}
	t.Logf("fulljoin took %v; stderr:\n%s", time.Since(begin).Round(time.Millisecond), stderr)

	if got := kw(joiner, nil, "--ca", "trust.pem", "state"); got != "Locked\n" {
		t.Fatalf("joiner state after fulljoin: got %q, want Locked", got)
	}
	kw(joiner, []string{"KEYWARDEN_UNLOCK_PASSPHRASE=" + memberUnlock}, "--ca", "trust.pem", "unlock")
	for name, d := range map[string]*apptest.Daemon{"member": member, "joiner": joiner} {
		checkVoters(t, name, kw(d, admin, "--ca", "trust.pem", "--json", "cluster", "members"), m[1], "https://"+joinerPeer)
	}
	t.Logf("whole test %v", time.Since(begin).Round(time.Millisecond))
}

// e2eKwctl runs the kwctl binary in dir against one daemon.
type e2eKwctl struct {
	t   *testing.T
	dir string
}

// exec runs kwctl, bounded to a minute, and returns what it printed and
// its exit code.
func (k e2eKwctl) exec(d *apptest.Daemon, env []string, args ...string) (stdout, stderr string, code int) {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(k.t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, apptest.Kwctl(k.t), args...)
	cmd.Dir = k.dir
	cmd.Env = append(os.Environ(), append([]string{"KEYWARDEN_URL=" + d.URL}, env...)...)
	var outBuf, errBuf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &outBuf, &errBuf
	err := cmd.Run()
	if cmd.ProcessState == nil {
		k.t.Fatalf("kwctl %s: %v", strings.Join(args, " "), err)
	}
	return outBuf.String(), errBuf.String(), cmd.ProcessState.ExitCode()
}

// run returns what kwctl printed, failing the test when kwctl fails.
func (k e2eKwctl) run(d *apptest.Daemon, env []string, args ...string) (stdout, stderr string) {
	k.t.Helper()
	stdout, stderr, code := k.exec(d, env, args...)
	if code != exitOK {
		k.t.Fatalf("kwctl %s: exit code %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, stdout, stderr)
	}
	return stdout, stderr
}

// fail runs kwctl expecting exit code 1 and returns its stderr.
func (k e2eKwctl) fail(d *apptest.Daemon, env []string, args ...string) string {
	k.t.Helper()
	stdout, stderr, code := k.exec(d, env, args...)
	if code != exitError {
		k.t.Fatalf("kwctl %s: exit code %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, exitError, stdout, stderr)
	}
	return stderr
}

// out is run's stdout.
func (k e2eKwctl) out(d *apptest.Daemon, env []string, args ...string) string {
	k.t.Helper()
	out, _ := k.run(d, env, args...)
	return out
}

func (k e2eKwctl) write(name, content string) {
	k.t.Helper()
	if err := os.WriteFile(filepath.Join(k.dir, name), []byte(content), 0o600); err != nil {
		k.t.Fatal(err)
	}
}

// checkVoters checks a --json cluster members answer: two voters, one of
// them the joiner at its peer URL.
func checkVoters(t *testing.T, who, answer, joinerID, joinerPeer string) {
	t.Helper()
	var members []client.ClusterMember
	if err := json.Unmarshal([]byte(answer), &members); err != nil {
		t.Fatalf("%s: cluster members: %v in %q", who, err, answer)
	}
	found := false
	for _, m := range members {
		if m.Learner {
			t.Errorf("%s: member %s is still a learner", who, m.ID)
		}
		found = found || m.ID == joinerID && len(m.URLs) == 1 && m.URLs[0] == joinerPeer
	}
	if len(members) != 2 || !found {
		t.Errorf("%s: cluster members: got %+v, want 2 voters, one of them %s at %s", who, members, joinerID, joinerPeer)
	}
}
