package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
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
	p := startPair(t)
	member, joiner, memberPeer, joinerPeer, k, kw, admin := p.member, p.joiner, p.memberPeer, p.joinerPeer, p.k, p.k.out, p.admin
	selfSigned := p.selfSigned
	ca := newTestCA(t, ecKey(t), pkcs8)

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
	out, stderr := k.run(member, admin, fulljoin("backup-pass")...)
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
	kw(joiner, []string{"KEYWARDEN_UNLOCK_PASSPHRASE=" + pairUnlock}, "--ca", "trust.pem", "unlock")
	for name, d := range map[string]*apptest.Daemon{"member": member, "joiner": joiner} {
		checkVoters(t, name, kw(d, admin, "--ca", "trust.pem", "--json", "cluster", "members"), m[1], "https://"+joinerPeer)
	}
	t.Logf("whole test %v", time.Since(begin).Round(time.Millisecond))
}

// TestClusterFullJoinClusterCAE2E is TestClusterFullJoinE2E with the CA the
// cluster holds itself: the refused first run has the member generate it
// (and so present a certificate from it), the rerun uses it. kwctl trusts
// only the self-signed certificates and, after the first run, the cluster
// CA. Afterwards the member's CA certifies a third key with cluster
// sign-csr.
func TestClusterFullJoinClusterCAE2E(t *testing.T) {
	begin := time.Now()
	p := startPair(t)
	k, kw := p.k, p.k.out
	fulljoin := func(trust, backupFile string) []string {
		return []string{"--ca", trust, "cluster", "fulljoin", "--member", p.member.URL, "--joiner", p.joiner.URL, "--joiner-peer", "https://" + p.joinerPeer,
			"--joiner-passphrase-file", "joiner-pass", "--backup-passphrase-file", backupFile, "--wait", "40s"}
	}

	stderr := k.fail(p.member, p.admin, fulljoin("self-signed.pem", "wrong-backup-pass")...)
	learner := regexp.MustCompile(`now: the joiner is unchanged \(Operational.*cluster remove ([0-9a-f]+)\) before trying again`).FindStringSubmatch(stderr)
	// Step 4 must fail for the passphrase alone: a kwctl that does not
	// trust the CA from step 1 on fails there too, by TLS.
	for _, want := range []string{"[1/5] member: no cluster CA yet; having it generate one", "[2/5] joiner: having the member's cluster CA certify it",
		"step 4/5 (join the cluster) failed: join cluster: 400 Bad Request"} {
		if learner == nil || !strings.Contains(stderr, want) {
			t.Fatalf("fulljoin with a wrong backup passphrase: stderr %q, want %q and the joiner unchanged", stderr, want)
		}
	}
	caPEM, err := p.member.Client("admin", pairAdmin).ClusterCA(apptest.Context(t))
	if err != nil {
		t.Fatalf("get the generated cluster CA: %v", err)
	}
	k.write("cluster-ca.pem", string(caPEM))
	// Both nodes now present certificates from the cluster CA alone.
	kw(p.member, p.admin, "--ca", "cluster-ca.pem", "cluster", "remove", learner[1])
	t.Logf("refused join and removal done after %v", time.Since(begin).Round(time.Millisecond))

	out, stderr := k.run(p.member, p.admin, fulljoin("cluster-ca.pem", "backup-pass")...)
	m := regexp.MustCompile(`^joined: member ([0-9a-f]+) ready\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("fulljoin stdout: got %q, want \"joined: member ID ready\"\nstderr:\n%s", out, stderr)
	}
	if !strings.Contains(stderr, "[1/5] member: using its cluster CA") {
		t.Errorf("fulljoin stderr: got %q, want the member's cluster CA used", stderr)
	}
	t.Logf("fulljoin took %v; stderr:\n%s", time.Since(begin).Round(time.Millisecond), stderr)

	if got := kw(p.joiner, nil, "--ca", "cluster-ca.pem", "state"); got != "Locked\n" {
		t.Fatalf("joiner state after fulljoin: got %q, want Locked", got)
	}
	kw(p.joiner, []string{"KEYWARDEN_UNLOCK_PASSPHRASE=" + pairUnlock}, "--ca", "cluster-ca.pem", "unlock")
	for name, d := range map[string]*apptest.Daemon{"member": p.member, "joiner": p.joiner} {
		checkVoters(t, name, kw(d, p.admin, "--ca", "cluster-ca.pem", "--json", "cluster", "members"), m[1], "https://"+p.joinerPeer)
	}

	k.write("third.csr", csrFor(t, ecKey(t)))
	chain := kw(p.joiner, p.admin, "--ca", "cluster-ca.pem", "cluster", "sign-csr", "--csr", "third.csr", "--ip", "192.0.2.9", "--dns", "node9.example")
	checkIssued(t, chain, caPEM, "192.0.2.9", "node9.example")
	t.Logf("whole test %v", time.Since(begin).Round(time.Millisecond))
}

// checkIssued checks that the leaf of chain is issued by the CA in caPEM
// for peers (server and client authentication) at ip and dnsName.
func checkIssued(t *testing.T, chain string, caPEM []byte, ip, dnsName string) {
	t.Helper()
	block, _ := pem.Decode([]byte(chain))
	if block == nil {
		t.Fatalf("sign-csr printed no PEM: %q", chain)
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("sign-csr: %v", err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	for _, eku := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: dnsName, KeyUsages: []x509.ExtKeyUsage{eku}}); err != nil {
			t.Errorf("sign-csr certificate for %v: %v", eku, err)
		}
	}
	if err := leaf.VerifyHostname(ip); err != nil {
		t.Errorf("sign-csr certificate: %v", err)
	}
}

// The member's passphrases in every pair.
const pairAdmin, pairUnlock = "member admin pass", "member unlock pass"

// e2ePair is two provisioned daemons that may form a cluster: the member
// has a backup passphrase, and the work directory holds the passphrase
// files and both self-signed certificates.
type e2ePair struct {
	member, joiner         *apptest.Daemon
	memberPeer, joinerPeer string // their --peer-listen addresses
	k                      e2eKwctl
	admin                  []string // the member's administrator, as kwctl environment
	selfSigned             string   // both certificates, also in self-signed.pem
}

func startPair(t *testing.T) e2ePair {
	t.Helper()
	p := e2ePair{memberPeer: apptest.FreeAddr(t), joinerPeer: apptest.FreeAddr(t), k: e2eKwctl{t: t, dir: t.TempDir()},
		admin: []string{"KEYWARDEN_USER=admin", "KEYWARDEN_PASSPHRASE=" + pairAdmin}}
	p.member = apptest.Start(t, apptest.Options{Args: []string{"--peer-listen", p.memberPeer}})
	p.joiner = apptest.Start(t, apptest.Options{Args: []string{"--peer-listen", p.joinerPeer}})
	kw := p.k.out
	kw(p.member, []string{"KEYWARDEN_UNLOCK_PASSPHRASE=" + pairUnlock, "KEYWARDEN_ADMIN_PASSPHRASE=" + pairAdmin}, "--insecure", "provision")
	kw(p.joiner, []string{"KEYWARDEN_UNLOCK_PASSPHRASE=joiner unlock pass", "KEYWARDEN_ADMIN_PASSPHRASE=joiner admin pass"}, "--insecure", "provision")
	err := p.member.Client("admin", pairAdmin).SetBackupPassphrase(apptest.Context(t), client.PassphraseChange{NewPassphrase: "backup pass"})
	if err != nil {
		t.Fatalf("set the member's backup passphrase: %v", err)
	}
	// Trust the appliances' own self-signed certificates only: fulljoin
	// must trust the CA that certifies them by itself.
	p.selfSigned = kw(p.member, p.admin, "--insecure", "config", "tls", "cert") +
		kw(p.joiner, []string{"KEYWARDEN_USER=admin", "KEYWARDEN_PASSPHRASE=joiner admin pass"}, "--insecure", "config", "tls", "cert")
	p.k.write("self-signed.pem", p.selfSigned)
	p.k.write("joiner-pass", "joiner admin pass\n")
	p.k.write("backup-pass", "backup pass\n")
	p.k.write("wrong-backup-pass", "not the backup pass\n")
	return p
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
