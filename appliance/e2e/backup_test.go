package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/appliance/apptest"
	"github.com/keywarden/keywarden/appliance/client"
	"github.com/keywarden/keywarden/rot/tpm/tpmtest"
)

const backupUserPass = "backup-User-Pass-77"

// backupSource is a provisioned appliance with a backup passphrase, a
// Backup user, an operator, a namespace with a user, generated keys and an
// imported key whose private scalar the test knows.
type backupSource struct {
	d        *apptest.Daemon
	cases    []signCase
	importer *ecdsa.PrivateKey
}

func newBackupSource(t *testing.T, d *apptest.Daemon) *backupSource {
	t.Helper()
	provision(t, d)
	ctx := apptest.Context(t)
	admin := d.Client("admin", adminPass)
	if err := admin.SetBackupPassphrase(ctx, client.PassphraseChange{NewPassphrase: backupPass}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct{ id, role, pass string }{{"bk", "Backup", backupUserPass}, {"op1", "Operator", operatorPass}} {
		if err := admin.AddUser(ctx, u.id, client.NewUser{RealName: u.id, Role: client.UserRole(u.role), Passphrase: u.pass}); err != nil {
			t.Fatal(err)
		}
	}
	if err := admin.AddUser(ctx, "ns1~admin", client.NewUser{RealName: "NS admin", Role: "Administrator", Passphrase: adminPass}); err != nil {
		t.Fatal(err)
	}
	if err := admin.AddNamespace(ctx, "ns1"); err != nil {
		t.Fatal(err)
	}
	src := &backupSource{d: d}
	for _, sc := range signCases() {
		sc.id = "bk" + string(sc.gen.Type)
		sc.gen.ID = sc.id
		if _, err := admin.GenerateKey(ctx, sc.gen); err != nil {
			t.Fatalf("generate %s: %v", sc.id, err)
		}
		src.cases = append(src.cases, sc)
	}
	var err error
	if src.importer, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(src.importer)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if _, err := admin.ImportKeyPEM(ctx, "imported", client.KeyImportArguments{Mechanisms: []client.KeyMechanism{"ECDSA_Signature"}}, keyPEM); err != nil {
		t.Fatal(err)
	}
	return src
}

// backup takes a backup as the Backup user and writes it into dir.
func (s *backupSource) backup(t *testing.T, dir string) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := s.d.Client("bk", backupUserPass).Backup(apptest.Context(t), &buf)
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	if n != int64(buf.Len()) || n == 0 {
		t.Fatalf("backup reported %d bytes, wrote %d", n, buf.Len())
	}
	if err := os.WriteFile(filepath.Join(dir, "backup.bin"), buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func restore(t *testing.T, c *client.Client, pass string, file []byte) error {
	t.Helper()
	return c.Restore(apptest.Context(t), client.RestoreArgs{BackupPassphrase: pass, SystemTime: time.Now().UTC()}, bytes.NewReader(file))
}

// TestBackupRestore backs up an appliance with the soft root of trust and
// restores it on a fresh one whose root of trust is a TPM: same keys, users
// and namespaces. Bad files change nothing.
func TestBackupRestore(t *testing.T) {
	a := newBackupSource(t, apptest.Start(t, apptest.Options{}))
	ctx := apptest.Context(t)
	_, err := a.d.Client("admin", adminPass).Backup(ctx, new(bytes.Buffer))
	wantStatus(t, "backup as an Administrator", err, http.StatusForbidden)
	// Node-local configuration travels too: log forwarding and the TLS
	// identity (so a replacement answers with the same certificate).
	logCfg := `{"ipAddress":"127.0.0.1","port":5514,"logLevel":"warning"}`
	putLog := rawReq{method: "PUT", path: "/config/logging", user: "admin", pass: adminPass, ctype: "application/json", body: logCfg}
	newRaw(t, a.d, net.IPv4(127, 0, 10, 2)).do(t, putLog).want(t, "set log forwarding", http.StatusNoContent)
	certA, err := a.d.Client("admin", adminPass).TLSCert(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := a.backup(t, dir)
	scalar, _ := a.importer.Bytes()
	der, _ := x509.MarshalPKCS8PrivateKey(a.importer)
	assertNoSecretsIn(t, dir, unlockPass, adminPass, operatorPass, backupPass, backupUserPass, string(der), string(scalar))

	b := apptest.Start(t, apptest.Options{Args: []string{"--rot", "tpm", "--tpm-device", tpmtest.Start(t), "--tpm-pcrs", "16"}})
	anon := b.Client("", "")
	badFiles(t, b, file)
	if err := restore(t, anon, backupPass, file); err != nil {
		t.Fatalf("restore on a fresh appliance: %v\n%s", err, b.Logs())
	}
	waitStateWithin(t, b, "Locked", 10*time.Second)
	if err := anon.Unlock(ctx, unlockPass); err != nil {
		t.Fatalf("unlock the restored appliance with the original unlock passphrase: %v", err)
	}
	for _, sc := range a.cases {
		signAndVerify(t, b.Client("op1", operatorPass), a.d.Client("admin", adminPass), sc)
	}
	signAndVerify(t, b.Client("op1", operatorPass), a.d.Client("admin", adminPass), signCase{id: "imported", mode: "ECDSA", msg: signCases()[0].msg})
	badmin := b.Client("admin", adminPass)
	if certB, err := badmin.TLSCert(ctx); err != nil || !bytes.Equal(firstPEM(t, certB), firstPEM(t, certA)) {
		t.Errorf("the restored appliance does not have the original's TLS certificate (%v)", err)
	}
	getLog := rawReq{method: "GET", path: "/config/logging", user: "admin", pass: adminPass}
	if r := newRaw(t, b, net.IPv4(127, 0, 10, 3)).do(t, getLog); string(r.body) != logCfg {
		t.Errorf("log forwarding after the restore: %s, want %s", r.body, logCfg)
	}
	if got, err := badmin.Namespaces(ctx); err != nil || !slices.Contains(got, "ns1") {
		t.Errorf("namespaces after the restore: %v, %v; want ns1", got, err)
	}
	if got, err := badmin.Users(ctx); err != nil || !slices.Contains(got, "bk") || !slices.Contains(got, "ns1~admin") {
		t.Errorf("users after the restore: %v, %v; want bk and ns1~admin", got, err)
	}
	// Restored once, the store is no longer empty: a second full restore
	// (after a lock, as anyone) is not possible, a partial one is.
	if err := restore(t, badmin, backupPass, file); err != nil {
		t.Errorf("partial restore of the same backup: %v", err)
	}
}

// badFiles sends every kind of bad backup to the Unprovisioned appliance d:
// each is 400 and leaves d Unprovisioned with nothing written (the full
// restore that follows needs an empty store) and nothing spooled.
func badFiles(t *testing.T, d *apptest.Daemon, file []byte) {
	t.Helper()
	anon := d.Client("", "")
	tampered := bytes.Clone(file)
	tampered[len(tampered)/2] ^= 0x01
	cases := []struct {
		name, pass string
		file       []byte
		msg        string
	}{
		{"tampered byte", backupPass, tampered, "modified or corrupted"},
		{"truncated", backupPass, file[:len(file)*2/3], "truncated"},
		{"wrong passphrase", "not-the-Backup-pass", file, "wrong backup passphrase"},
		{"garbage", backupPass, bytes.Repeat([]byte("garbage!"), 4096), "not a"},
		{"empty", backupPass, nil, "not a"},
		{"last byte cut", backupPass, file[:len(file)-1], "truncated"},
	}
	for _, tc := range cases {
		err := restore(t, anon, tc.pass, tc.file)
		wantStatus(t, "restore a "+tc.name+" backup", err, http.StatusBadRequest)
		if !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("restore a %s backup: %q does not say %q", tc.name, err, tc.msg)
		}
		if st, err := anon.State(apptest.Context(t)); err != nil || st != "Unprovisioned" {
			t.Fatalf("after a %s backup: state %q, %v; want Unprovisioned", tc.name, st, err)
		}
	}
	entries, err := os.ReadDir(d.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".restore") {
			t.Errorf("a spooled upload was left in the data directory: %s", e.Name())
		}
	}
}

// TestClusterBackupRestore restores into a cluster: a partial restore on
// one node is seen on the other, a backup of another domain is refused with
// the reason, and a factory reset makes a member leave the cluster first.
func TestClusterBackupRestore(t *testing.T) {
	c := formCluster(t, 2)
	n1, n2 := c.nodes[0], c.nodes[1]
	ctx := apptest.Context(t)
	admin1, admin2 := n1.admin(t), n2.admin(t)
	if err := admin1.AddUser(ctx, "bk", client.NewUser{RealName: "bk", Role: "Backup", Passphrase: backupUserPass}); err != nil {
		t.Fatal(err)
	}
	if err := admin1.AddUser(ctx, "op1", client.NewUser{RealName: "op", Role: "Operator", Passphrase: operatorPass}); err != nil {
		t.Fatal(err)
	}
	sc := signCases()[0]
	sc.gen.ID, sc.id = "kept", "kept"
	if _, err := admin1.GenerateKey(ctx, sc.gen); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := n2.Client("bk", backupUserPass).Backup(ctx, &buf); err != nil {
		t.Fatalf("backup from node 2: %v", err)
	}
	file := buf.Bytes()

	// Deleted on node 1, restored on node 2, usable on node 1 at once.
	if err := admin1.DeleteKey(ctx, "kept"); err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Clone(file)
	tampered[len(tampered)-20] ^= 0x80
	wantStatus(t, "partial restore of a tampered backup", restore(t, admin2, backupPass, tampered), http.StatusBadRequest)
	if _, err := admin1.KeyPublicPEM(ctx, "kept"); client.StatusCode(err) != http.StatusNotFound {
		t.Fatalf("a refused restore brought the key back (%v)", err)
	}
	if err := restore(t, admin2, backupPass, file); err != nil {
		t.Fatalf("partial restore on node 2: %v", err)
	}
	signAndVerify(t, n1.Client("op1", operatorPass), admin1, sc)

	// A backup of an appliance provisioned on its own is another domain.
	other := newBackupSource(t, apptest.Start(t, apptest.Options{}))
	err := restore(t, admin2, backupPass, other.backup(t, t.TempDir()))
	wantStatus(t, "restore another domain's backup into the cluster", err, http.StatusBadRequest)
	if !strings.Contains(err.Error(), "another domain") || !strings.Contains(err.Error(), "this cluster") {
		t.Errorf("the refusal does not give the reason: %v", err)
	}

	// Factory reset of node 2 while Locked: authenticated with the unlock
	// passphrase, and node 2 leaves the cluster first.
	if err := admin2.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "factory reset of a Locked node without credentials", n2.Client("", "").FactoryReset(ctx), http.StatusUnauthorized)
	wantStatus(t, "factory reset with a wrong passphrase", n2.Client("x", "wrong-Unlock-pass").FactoryReset(ctx), http.StatusUnauthorized)
	if err := n2.Client("x", unlockPass).FactoryReset(ctx); err != nil {
		t.Fatalf("factory reset of node 2: %v", err)
	}
	waitStateWithin(t, n2.Daemon, "Unprovisioned", 30*time.Second)
	if members, err := admin1.ClusterMembers(ctx); err != nil || len(members) != 1 {
		t.Fatalf("members after node 2's reset: %v, %v; want node 1 alone", members, err)
	}
	sc.gen.ID, sc.id = "after-reset", "after-reset"
	if _, err := admin1.GenerateKey(ctx, sc.gen); err != nil {
		t.Fatalf("write on node 1 after node 2 left: %v", err)
	}
}

// TestRestoreAdmission holds an anonymous upload open on an Unprovisioned
// appliance: a second restore meanwhile is refused (one at a time), and
// once the appliance has been provisioned in between, the first one, though
// its file is good, is refused: its admission no longer holds.
func TestRestoreAdmission(t *testing.T) {
	src := newBackupSource(t, apptest.Start(t, apptest.Options{}))
	// Enough keys that most of the file passes the client's buffers while
	// its end is held back.
	for i := range 100 {
		if err := genKey(apptest.Context(t), src.d.Client("admin", adminPass), fmt.Sprintf("pad%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	file := src.backup(t, t.TempDir())
	d := apptest.Start(t, apptest.Options{})
	anon := d.Client("", "")

	pr, pw := io.Pipe()
	first := make(chan error, 1)
	go func() {
		first <- anon.Restore(context.Background(), client.RestoreArgs{BackupPassphrase: backupPass}, pr)
	}()
	held := len(file) - 64
	if _, err := pw.Write(file[:held]); err != nil {
		t.Fatal(err)
	}
	// The first upload is being spooled soon (its first half was sent). A
	// garbage second file is refused (400) should it get in first.
	var err error
	for range 50 {
		if err = restore(t, anon, backupPass, []byte("garbage")); client.StatusCode(err) == http.StatusConflict {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	wantStatus(t, "a second restore while one is uploading", err, http.StatusConflict)
	provision(t, d)
	if _, err := pw.Write(file[held:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	wantStatus(t, "an anonymous restore that finds the appliance Operational", <-first, http.StatusPreconditionFailed)
	if _, err := d.Client("admin", adminPass).KeyPublicPEM(apptest.Context(t), "imported"); client.StatusCode(err) != http.StatusNotFound {
		t.Fatalf("the refused restore wrote keys (%v)", err)
	}
}
