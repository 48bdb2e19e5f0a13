package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keywarden/keywarden/appliance/apptest"
	"github.com/keywarden/keywarden/appliance/client"
)

// waitState polls /health/state until the appliance reports want, tolerating
// refused connections while it restarts in-process.
func waitState(t *testing.T, d *apptest.Daemon, want client.SystemState) {
	t.Helper()
	waitStateWithin(t, d, want, 20*time.Second)
}

// waitStateWithin is waitState with a limit; it returns how long it took.
func waitStateWithin(t testing.TB, d *apptest.Daemon, want client.SystemState, limit time.Duration) time.Duration {
	t.Helper()
	c := d.Client("", "")
	begin := time.Now()
	var got client.SystemState
	var err error
	for time.Since(begin) < limit {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		got, err = c.State(ctx)
		cancel()
		if err == nil && got == want {
			return time.Since(begin)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("state: got %q (%v) after %v, want %s; reason %q\n%s", got, err, limit, want, stateReason(t, d), d.Logs())
	return 0
}

// TestSystemInfo checks that /system/info names the development root of trust
// so that a soft appliance cannot pass for one with hardware protection.
func TestSystemInfo(t *testing.T) {
	d := apptest.Start(t, apptest.Options{})
	provision(t, d)
	resp := newRaw(t, d, net.IPv4(127, 0, 8, 1)).do(t, rawReq{method: "GET", path: "/system/info", user: "admin", pass: adminPass})
	resp.want(t, "system info", http.StatusOK)
	var info struct {
		client.SystemInfo
		RootOfTrust *struct {
			Kind            string `json:"kind"`
			DevelopmentOnly bool   `json:"developmentOnly"`
		} `json:"rootOfTrust"`
	}
	if err := json.Unmarshal(resp.body, &info); err != nil {
		t.Fatalf("decode %s: %v", resp.body, err)
	}
	if rt := info.RootOfTrust; rt == nil || rt.Kind != "soft" || !rt.DevelopmentOnly {
		t.Errorf("rootOfTrust: got %+v, want kind soft and developmentOnly true", rt)
	}
	if !strings.Contains(strings.ToLower(info.HardwareVersion), "development only") {
		t.Errorf("hardwareVersion: got %q, want it to say development only", info.HardwareVersion)
	}
	if info.DeviceID == "" || info.SoftwareVersion == "" || info.PCR == nil {
		t.Errorf("deviceId %q, softwareVersion %q, pcr %v: want all present", info.DeviceID, info.SoftwareVersion, info.PCR)
	}
	der, err := base64.StdEncoding.DecodeString(info.AKPub["P256"])
	if err != nil {
		t.Fatalf("akPub.P256 %q: %v", info.AKPub["P256"], err)
	}
	if pub, err := x509.ParsePKIXPublicKey(der); err != nil {
		t.Errorf("akPub.P256: %v", err)
	} else if k, ok := pub.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("akPub.P256: got %T, want a P-256 key", pub)
	}
}

// TestPassphraseChanges changes the unlock and backup passphrases and checks
// which passphrases are accepted afterwards.
func TestPassphraseChanges(t *testing.T) {
	d := apptest.Start(t, apptest.Options{})
	provision(t, d)
	ctx := apptest.Context(t)
	admin, anon := d.Client("admin", adminPass), d.Client("", "")
	const newUnlock, backup1, backup2 = "unlock-Changed-4f1a0", "backup-One-0b7e21", "backup-Two-99c3d4"

	wantStatus(t, "unlock change with a wrong current", admin.SetUnlockPassphrase(ctx, client.PassphraseChange{NewPassphrase: newUnlock, CurrentPassphrase: "wrong-passphrase-2"}), 400)
	wantStatus(t, "unlock change to a weak one", admin.SetUnlockPassphrase(ctx, client.PassphraseChange{NewPassphrase: "short", CurrentPassphrase: unlockPass}), 400)
	if err := admin.SetUnlockPassphrase(ctx, client.PassphraseChange{NewPassphrase: newUnlock, CurrentPassphrase: unlockPass}); err != nil {
		t.Fatalf("change unlock passphrase: %v", err)
	}
	if err := admin.Lock(ctx); err != nil {
		t.Fatalf("lock: %v", err)
	}
	wantStatus(t, "unlock with the old passphrase", anon.Unlock(ctx, unlockPass), 403)
	newRaw(t, d, net.IPv4(127, 0, 8, 2)).do(t, rawReq{method: "POST", path: "/system/shutdown", user: "admin", pass: unlockPass}).
		want(t, "shutdown while Locked with the old unlock passphrase", 401)
	if err := anon.Unlock(ctx, newUnlock); err != nil {
		t.Fatalf("unlock with the new passphrase: %v", err)
	}

	set := func(current, next string) error {
		return admin.SetBackupPassphrase(ctx, client.PassphraseChange{NewPassphrase: next, CurrentPassphrase: current})
	}
	wantStatus(t, "first backup passphrase with a current one", set("something-else-1", backup1), 400)
	if err := set("", backup1); err != nil {
		t.Fatalf("set the first backup passphrase: %v", err)
	}
	wantStatus(t, "backup passphrase set again with \"\"", set("", backup2), 400)
	wantStatus(t, "backup change with a wrong current", set("wrong-passphrase-3", backup2), 400)
	wantStatus(t, "backup change to a weak one", set(backup1, "short"), 400)
	if err := set(backup1, backup2); err != nil {
		t.Fatalf("change the backup passphrase: %v", err)
	}
	wantStatus(t, "backup change with the replaced one", set(backup1, "backup-Three-1234"), 400)
	d.Stop()
	assertNoSecrets(t, d, unlockPass, adminPass, newUnlock, backup1, backup2)
}

// TestUnattendedBoot switches unattended boot on and off across restarts.
func TestUnattendedBoot(t *testing.T) {
	d := apptest.Start(t, apptest.Options{})
	provision(t, d)
	admin := d.Client("admin", adminPass)
	if got, err := admin.UnattendedBoot(apptest.Context(t)); err != nil || got != client.SwitchOff {
		t.Fatalf("unattended boot after provisioning: got %q, %v; want off", got, err)
	}
	id, err := admin.GenerateKey(apptest.Context(t), client.KeyGenerateRequest{Type: "EC_P256", Mechanisms: []client.KeyMechanism{"ECDSA_Signature"}})
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	for _, tc := range []struct {
		set  client.Switch
		want client.SystemState
	}{{client.SwitchOn, client.StateOperational}, {client.SwitchOff, client.StateLocked}} {
		ctx := apptest.Context(t)
		if err := admin.SetUnattendedBoot(ctx, tc.set); err != nil {
			t.Fatalf("switch unattended boot %s: %v", tc.set, err)
		}
		if got, err := admin.UnattendedBoot(ctx); err != nil || got != tc.set {
			t.Fatalf("unattended boot: got %q, %v; want %s", got, err, tc.set)
		}
		d.Restart()
		if st, err := d.Client("", "").State(apptest.Context(t)); err != nil || st != tc.want {
			t.Fatalf("unattended boot %s, after restart: got %q, %v; want %s", tc.set, st, err, tc.want)
		}
		if tc.want == client.StateOperational {
			if _, err := admin.Key(apptest.Context(t), id); err != nil {
				t.Fatalf("key after an unattended boot: %v", err)
			}
		}
	}
}

// TestShutdownWhileLocked checks that shutting a Locked appliance down needs
// the unlock passphrase, and that the process then exits cleanly.
func TestShutdownWhileLocked(t *testing.T) {
	d := apptest.Start(t, apptest.Options{})
	provision(t, d)
	if err := d.Client("admin", adminPass).Lock(apptest.Context(t)); err != nil {
		t.Fatalf("lock: %v", err)
	}
	raw := newRaw(t, d, net.IPv4(127, 0, 6, 1))
	shutdown := rawReq{method: "POST", path: "/system/shutdown"}
	raw.do(t, shutdown).want(t, "shutdown without credentials", 401)
	shutdown.user, shutdown.pass = "admin", adminPass
	raw.do(t, shutdown).want(t, "shutdown with the admin passphrase while Locked", 401)
	shutdown.pass = unlockPass
	raw.do(t, shutdown).want(t, "shutdown with the unlock passphrase", 204)
	if err := d.WaitExit(10 * time.Second); err != nil {
		t.Fatalf("after shutdown: got %v, want exit status 0\n%s", err, d.Logs())
	}
}

// TestReboot reboots an Operational appliance: it comes back Locked on the
// same address, in the same process, with its keys and node settings.
func TestReboot(t *testing.T) {
	d := apptest.Start(t, apptest.Options{})
	provision(t, d)
	ctx := apptest.Context(t)
	admin := d.Client("admin", adminPass)
	checkClock(t, admin, 0)
	if err := admin.SetTime(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("set time: %v", err)
	}
	checkClock(t, admin, time.Hour)
	id, err := admin.GenerateKey(ctx, client.KeyGenerateRequest{Type: "Curve25519", Mechanisms: []client.KeyMechanism{"EdDSA_Signature"}})
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	before, _ := admin.KeyPublicPEM(ctx, id)

	raw := newRaw(t, d, net.IPv4(127, 0, 5, 1))
	raw.do(t, rawReq{method: "POST", path: "/system/reboot", user: "admin", pass: adminPass}).want(t, "reboot", 204)
	waitState(t, d, client.StateLocked)
	if !d.Running() {
		t.Fatal("the process exited on reboot, want an in-process reboot")
	}
	if err := d.Client("", "").Unlock(apptest.Context(t), unlockPass); err != nil {
		t.Fatalf("unlock after reboot: %v", err)
	}
	if after, err := admin.KeyPublicPEM(apptest.Context(t), id); err != nil || string(after) != string(before) {
		t.Errorf("key after reboot: got %q, %v; want the same public key", after, err)
	}
	checkClock(t, admin, time.Hour)
}

// checkClock fails unless the appliance clock is within 5 s of the host
// clock plus offset.
func checkClock(t *testing.T, c *client.Client, offset time.Duration) {
	t.Helper()
	got, err := c.Time(apptest.Context(t))
	if err != nil {
		t.Fatalf("get time: %v", err)
	}
	if d := got.Sub(time.Now().Add(offset)); d < -5*time.Second || d > 5*time.Second {
		t.Errorf("appliance time: got %v, want host time %+v ± 5 s", got, offset)
	}
}

// dataFile identifies one file of the data directory: a file that survives
// a wipe keeps its inode and modification time, a re-created one does not.
type dataFile struct {
	ino   uint64
	mtime int64
}

// snapshot is the data directory before a factory reset.
type snapshot struct {
	files    map[dataFile]string
	identity map[string]string // content of the files that make up the node's identity
}

func dataFiles(t *testing.T, dir string) snapshot {
	t.Helper()
	s := snapshot{files: map[dataFile]string{}, identity: map[string]string{}}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		s.files[dataFile{ino: st.Ino, mtime: info.ModTime().UnixNano()}] = p
		return nil
	})
	if err != nil {
		t.Fatalf("scan %s: %v", dir, err)
	}
	for _, name := range []string{"node-id", "rot-soft.key", "device-key.sealed"} {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		s.identity[name] = string(b)
	}
	return s
}

// wantFreshDataDir fails if any file of old survives in dir or the node's
// identity files were kept.
func wantFreshDataDir(t *testing.T, dir string, old snapshot) {
	t.Helper()
	if len(old.files) == 0 {
		t.Fatal("no old files to compare with")
	}
	now := dataFiles(t, dir)
	for f, p := range now.files {
		if was, ok := old.files[f]; ok {
			t.Errorf("after factory reset %s is still the old %s", p, was)
		}
	}
	for name, content := range old.identity {
		if content == "" || now.identity[name] == content {
			t.Errorf("after factory reset %s: got the old content (or none before), want a new one", name)
		}
	}
	for _, name := range []string{"unlock-slot.json", "stale-marker"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			t.Errorf("after factory reset %s still exists", name)
		}
	}
}

// TestFactoryReset resets an Operational appliance: it comes back
// Unprovisioned, with nothing of its keys, users or files left.
func TestFactoryReset(t *testing.T) {
	d := apptest.Start(t, apptest.Options{})
	provision(t, d)
	ctx := apptest.Context(t)
	admin := d.Client("admin", adminPass)
	if err := admin.AddUser(ctx, "op1", client.NewUser{RealName: "Op", Role: "Operator", Passphrase: operatorPass}); err != nil {
		t.Fatalf("add user: %v", err)
	}
	if _, err := admin.GenerateKey(ctx, client.KeyGenerateRequest{ID: "old", Type: "EC_P256", Mechanisms: []client.KeyMechanism{"ECDSA_Signature"}}); err != nil {
		t.Fatalf("generate: %v", err)
	}
	if err := os.WriteFile(filepath.Join(d.DataDir, "stale-marker"), []byte("left by the test"), 0o600); err != nil {
		t.Fatal(err)
	}
	old, oldTLS := dataFiles(t, d.DataDir), presented(t, d)[0]

	raw := newRaw(t, d, net.IPv4(127, 0, 4, 1))
	raw.do(t, rawReq{method: "POST", path: "/system/factory-reset", user: "op1", pass: operatorPass}).want(t, "factory reset by an Operator", 403)
	raw.do(t, rawReq{method: "POST", path: "/system/factory-reset", user: "admin", pass: adminPass}).want(t, "factory reset", 204)
	waitState(t, d, client.StateUnprovisioned)
	wantFreshDataDir(t, d.DataDir, old)
	if presented(t, d)[0].Equal(oldTLS) {
		t.Error("after factory reset the API still presents the old TLS certificate")
	}

	const admin2 = "admin-After-Reset-77aa"
	if err := d.Client("", "").Provision(apptest.Context(t), client.ProvisionRequest{UnlockPassphrase: "unlock-After-Reset-1b", AdminPassphrase: admin2}); err != nil {
		t.Fatalf("provision after reset: %v", err)
	}
	_, err := admin.Keys(apptest.Context(t), client.KeyListOptions{})
	wantStatus(t, "the old admin passphrase after reset", err, 401)
	_, err = d.Client("op1", operatorPass).Key(apptest.Context(t), "old")
	wantStatus(t, "the old operator after reset", err, 401)
	if keys, err := d.Client("admin", admin2).Keys(apptest.Context(t), client.KeyListOptions{}); err != nil || len(keys) != 0 {
		t.Errorf("keys after reset: got %v, %v; want none", keys, err)
	}
}

// TestFactoryResetWhenFailed resets an appliance whose device key cannot be
// unsealed; only the unlock passphrase authenticates there.
func TestFactoryResetWhenFailed(t *testing.T) {
	d := apptest.Start(t, apptest.Options{})
	provision(t, d)
	const newUnlock = "unlock-Before-Failure-5e"
	change := client.PassphraseChange{NewPassphrase: newUnlock, CurrentPassphrase: unlockPass}
	if err := d.Client("admin", adminPass).SetUnlockPassphrase(apptest.Context(t), change); err != nil {
		t.Fatalf("change unlock passphrase: %v", err)
	}
	d.Stop()
	if err := os.WriteFile(filepath.Join(d.DataDir, "device-key.sealed"), []byte("not a sealed blob"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.Restart()
	waitState(t, d, client.StateFailed)
	old := dataFiles(t, d.DataDir)

	raw := newRaw(t, d, net.IPv4(127, 0, 3, 1))
	reset := rawReq{method: "POST", path: "/system/factory-reset", user: "admin", pass: adminPass}
	raw.do(t, reset).want(t, "factory reset in Failed with the admin passphrase", 401)
	reset.pass = unlockPass
	raw.do(t, reset).want(t, "factory reset in Failed with the replaced unlock passphrase", 401)
	reset.pass = newUnlock
	raw.do(t, reset).want(t, "factory reset in Failed with the unlock passphrase", 204)
	waitState(t, d, client.StateUnprovisioned)
	wantFreshDataDir(t, d.DataDir, old)
	provision(t, d)
}

// presented makes a new TLS handshake with the API and returns the
// certificate chain the server presents.
