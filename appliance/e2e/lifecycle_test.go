package e2e

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"testing"
	"time"

	"github.com/keywarden/keywarden/appliance/apptest"
	"github.com/keywarden/keywarden/appliance/client"
)

// Secrets used by the lifecycle test; the secret scan looks for each of them.
const (
	unlockPass   = "unlock-Passphrase-7c1e"
	adminPass    = "admin-Passphrase-93ab"
	operatorPass = "operator-Passphrase-5d20"
)

func provision(t *testing.T, d *apptest.Daemon) {
	t.Helper()
	ctx := apptest.Context(t)
	err := d.Client("", "").Provision(ctx, client.ProvisionRequest{UnlockPassphrase: unlockPass, AdminPassphrase: adminPass, SystemTime: time.Now().UTC()})
	if err != nil {
		t.Fatalf("provision: %v", err)
	}
}

// wantStatus fails unless err carries HTTP status want.
func wantStatus(t *testing.T, what string, err error, want int) {
	t.Helper()
	if got := client.StatusCode(err); got != want {
		t.Fatalf("%s: got status %d (%v), want %d", what, got, err, want)
	}
}

type signCase struct {
	id   string
	gen  client.KeyGenerateRequest
	mode client.SignMode
	msg  func() []byte
}

func signCases() []signCase {
	digest := func() []byte { h := sha256.Sum256([]byte("keywarden e2e")); return h[:] }
	return []signCase{
		{"p256", client.KeyGenerateRequest{Type: "EC_P256", Mechanisms: []client.KeyMechanism{"ECDSA_Signature"}}, "ECDSA", digest},
		{"ed", client.KeyGenerateRequest{Type: "Curve25519", Mechanisms: []client.KeyMechanism{"EdDSA_Signature"}}, "EdDSA", func() []byte { return []byte("keywarden e2e") }},
		{"rsa", client.KeyGenerateRequest{Type: "RSA", Length: 2048, Mechanisms: []client.KeyMechanism{"RSA_Signature_PSS_SHA256", "RSA_Decryption_OAEP_SHA256"}}, "PSS_SHA256", digest},
	}
}

func publicKey(t *testing.T, c *client.Client, id string) crypto.PublicKey {
	t.Helper()
	p, err := c.KeyPublicPEM(apptest.Context(t), id)
	if err != nil {
		t.Fatalf("public.pem of %s: %v", id, err)
	}
	block, _ := pem.Decode(p)
	if block == nil {
		t.Fatalf("public.pem of %s is not PEM: %q", id, p)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatalf("public.pem of %s: %v", id, err)
	}
	return pub
}

func verify(t *testing.T, pub crypto.PublicKey, msg, sig []byte) {
	t.Helper()
	ok := false
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		ok = ecdsa.VerifyASN1(k, msg, sig)
	case ed25519.PublicKey:
		ok = ed25519.Verify(k, msg, sig)
	case *rsa.PublicKey:
		ok = rsa.VerifyPSS(k, crypto.SHA256, msg, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
	}
	if !ok {
		t.Fatalf("signature does not verify with %T", pub)
	}
}

func signAndVerify(t *testing.T, op, admin *client.Client, sc signCase) {
	t.Helper()
	msg := sc.msg()
	sig, err := op.Sign(apptest.Context(t), sc.id, client.SignRequest{Mode: sc.mode, Message: msg})
	if err != nil {
		t.Fatalf("sign with %s: %v", sc.id, err)
	}
	verify(t, publicKey(t, admin, sc.id), msg, sig)
}

// TestLifecycle is the appliance's life in one test: provision, users, keys,
// sign and verify, lock, unlock, restart, and the same keys afterwards.
func TestLifecycle(t *testing.T) {
	d := apptest.Start(t, apptest.Options{})
	ctx := apptest.Context(t)
	anon := d.Client("", "")
	if st, err := anon.State(ctx); err != nil || st != "Unprovisioned" {
		t.Fatalf("fresh state: got %q, %v; want Unprovisioned", st, err)
	}
	provision(t, d)
	admin := d.Client("admin", adminPass)
	if err := admin.AddUser(ctx, "op1", client.NewUser{RealName: "Op One", Role: "Operator", Passphrase: operatorPass}); err != nil {
		t.Fatalf("add operator: %v", err)
	}
	op := d.Client("op1", operatorPass)
	pubs := map[string][]byte{}
	for _, sc := range signCases() {
		sc.gen.ID = sc.id
		if _, err := admin.GenerateKey(ctx, sc.gen); err != nil {
			t.Fatalf("generate %s: %v", sc.id, err)
		}
		signAndVerify(t, op, admin, sc)
		pubs[sc.id], _ = admin.KeyPublicPEM(ctx, sc.id)
	}
	_, err := admin.Sign(ctx, "p256", client.SignRequest{Mode: "ECDSA", Message: make([]byte, 32)})
	wantStatus(t, "admin signing", err, http.StatusForbidden)

	if err := admin.Lock(ctx); err != nil {
		t.Fatalf("lock: %v", err)
	}
	_, err = op.Sign(ctx, "p256", client.SignRequest{Mode: "ECDSA", Message: make([]byte, 32)})
	wantStatus(t, "sign while Locked", err, http.StatusPreconditionFailed)
	wantStatus(t, "unlock with a wrong passphrase", anon.Unlock(ctx, "wrong-passphrase-123"), http.StatusForbidden)
	if err := anon.Unlock(ctx, unlockPass); err != nil {
		t.Fatalf("unlock: %v", err)
	}
	signAndVerify(t, op, admin, signCases()[0])

	if took := d.Stop(); took > 5*time.Second {
		t.Errorf("SIGTERM shutdown took %v, want ≤ 5 s", took)
	}
	d.Restart()
	if st, err := anon.State(apptest.Context(t)); err != nil || st != "Locked" {
		t.Fatalf("state after restart: got %q, %v; want Locked", st, err)
	}
	if err := anon.Unlock(apptest.Context(t), unlockPass); err != nil {
		t.Fatalf("unlock after restart: %v", err)
	}
	for _, sc := range signCases() {
		signAndVerify(t, op, admin, sc)
		if got, _ := admin.KeyPublicPEM(apptest.Context(t), sc.id); !bytes.Equal(got, pubs[sc.id]) {
			t.Errorf("key %s changed across restart", sc.id)
		}
	}
	d.Stop()
	assertNoSecrets(t, d, unlockPass, adminPass, operatorPass)
}

// withSigningKey provisions d, adds Operator op1 and a key of sc's kind, and
// checks that op1's signature with it verifies.
func withSigningKey(t *testing.T, d *apptest.Daemon, sc signCase) (admin, op *client.Client, _ signCase) {
	t.Helper()
	ctx := apptest.Context(t)
	provision(t, d)
	admin = d.Client("admin", adminPass)
	if err := admin.AddUser(ctx, "op1", client.NewUser{RealName: "Op", Role: "Operator", Passphrase: operatorPass}); err != nil {
		t.Fatal(err)
	}
	op = d.Client("op1", operatorPass)
	sc.gen.ID = sc.id
	if _, err := admin.GenerateKey(ctx, sc.gen); err != nil {
		t.Fatal(err)
	}
	signAndVerify(t, op, admin, sc)
	return admin, op, sc
}

// restartUnlockThenUnattended restarts d (Locked; whileLocked runs then, if
// given), unlocks it, checks the key still signs, switches unattended boot on
// and checks that the next start is Operational by itself with the same key.
func restartUnlockThenUnattended(t *testing.T, d *apptest.Daemon, admin, op *client.Client, sc signCase, whileLocked func()) {
	t.Helper()
	d.Restart()
	waitState(t, d, "Locked")
	if whileLocked != nil {
		whileLocked()
	}
	if err := d.Client("", "").Unlock(apptest.Context(t), unlockPass); err != nil {
		t.Fatalf("unlock after restart: %v", err)
	}
	signAndVerify(t, op, admin, sc)
	if err := admin.SetUnattendedBoot(apptest.Context(t), "on"); err != nil {
		t.Fatalf("unattended boot on: %v", err)
	}
	d.Restart()
	waitState(t, d, "Operational")
	signAndVerify(t, op, admin, sc)
}
