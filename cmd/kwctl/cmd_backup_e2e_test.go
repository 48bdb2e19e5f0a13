package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/appliance/apptest"
	"github.com/keywarden/keywarden/appliance/client"
)

// TestBackupRestoreE2E backs up a real appliance with the real kwctl and
// restores the file onto a fresh one; an altered copy is refused and
// changes nothing.
func TestBackupRestoreE2E(t *testing.T) {
	const unlock, adminPass, backupPass, bkPass = "e2e-Unlock-pass", "e2e-Admin-pass", "e2e-Backup-pass", "e2e-Bk-user-pass"
	ctx := apptest.Context(t)
	a := apptest.Start(t, apptest.Options{})
	if err := a.Client("", "").Provision(ctx, client.ProvisionRequest{UnlockPassphrase: unlock, AdminPassphrase: adminPass, SystemTime: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	admin := a.Client("admin", adminPass)
	if err := admin.SetBackupPassphrase(ctx, client.PassphraseChange{NewPassphrase: backupPass}); err != nil {
		t.Fatal(err)
	}
	if err := admin.AddUser(ctx, "bk", client.NewUser{RealName: "bk", Role: "Backup", Passphrase: bkPass}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.GenerateKey(ctx, client.KeyGenerateRequest{ID: "k1", Type: "EC_P256", Mechanisms: []client.KeyMechanism{"ECDSA_Signature"}}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kw := func(d *apptest.Daemon, env []string, args ...string) (string, string, error) {
		cmd := exec.Command(apptest.Kwctl(t), append([]string{"--insecure"}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), append([]string{"KEYWARDEN_URL=" + d.URL}, env...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}
	if _, stderr, err := kw(a, []string{"KEYWARDEN_USER=bk", "KEYWARDEN_PASSPHRASE=" + bkPass}, "backup", "--out", "a.kwbackup"); err != nil {
		t.Fatalf("kwctl backup: %v\n%s", err, stderr)
	} else if !strings.Contains(stderr, "wrote") {
		t.Errorf("kwctl backup printed no summary: %q", stderr)
	}
	file, err := os.ReadFile(filepath.Join(dir, "a.kwbackup"))
	if err != nil {
		t.Fatal(err)
	}
	file[len(file)/2] ^= 0x01
	if err := os.WriteFile(filepath.Join(dir, "altered.kwbackup"), file, 0o600); err != nil {
		t.Fatal(err)
	}

	b := apptest.Start(t, apptest.Options{})
	env := []string{"KEYWARDEN_BACKUP_PASSPHRASE=" + backupPass}
	if _, stderr, err := kw(b, env, "restore", "--file", "altered.kwbackup"); err == nil || !strings.Contains(stderr, "modified or corrupted") {
		t.Fatalf("kwctl restore of an altered file: %v, %q; want a failure naming the damage", err, stderr)
	}
	if st, err := b.Client("", "").State(ctx); err != nil || st != "Unprovisioned" {
		t.Fatalf("after a refused restore: %q, %v; want Unprovisioned", st, err)
	}
	out, stderr, err := kw(b, env, "restore", "--file", "a.kwbackup")
	if err != nil {
		t.Fatalf("kwctl restore: %v\n%s", err, stderr)
	}
	if !strings.Contains(out+stderr, "Locked") || !strings.Contains(stderr, "sent") {
		t.Errorf("kwctl restore output %q / %q: want a transfer summary and the Locked state", out, stderr)
	}
	if err := b.Client("", "").Unlock(ctx, unlock); err != nil {
		t.Fatalf("unlock the restored appliance: %v", err)
	}
	if _, err := b.Client("admin", adminPass).KeyPublicPEM(ctx, "k1"); err != nil {
		t.Fatalf("the restored appliance has no key k1: %v", err)
	}
}
