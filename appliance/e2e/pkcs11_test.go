package e2e

import (
	"context"
	"crypto"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/appliance/apptest"
	"github.com/keywarden/keywarden/appliance/client"
	"github.com/keywarden/keywarden/hsm"
	"github.com/keywarden/keywarden/hsm/hsmtest"
)

// TestPKCS11RootOfTrust runs the appliance on a real (software) HSM: a
// SoftHSM2 token created by the test.
func TestPKCS11RootOfTrust(t *testing.T) {
	module, label, pin := hsmtest.NewToken(t, "keywarden-e2e")
	pinFile := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(pinFile, []byte(pin), 0o600); err != nil {
		t.Fatal(err)
	}
	d := apptest.Start(t, apptest.Options{Args: []string{"--rot", "pkcs11", "--pkcs11-module", module, "--pkcs11-token", label, "--pkcs11-pin-file", pinFile}})
	ctx := apptest.Context(t)
	admin, op, sc := withSigningKey(t, d, signCases()[1])
	if info, err := admin.SystemInfo(ctx); err != nil || info.AKPub["P256"] == "" {
		t.Errorf("system info on PKCS#11: got %+v, %v; want the token's identity key", info, err)
	}

	tlsKeyInToken(t, d, module, label, pin)
	err := admin.GenerateTLSKey(ctx, client.TLSKeyGenerateRequest{Type: "RSA", Length: 2048})
	wantStatus(t, "an RSA TLS key on a token that makes EC_P256 TLS keys only", err, 400)
	if err := admin.GenerateTLSKey(ctx, client.TLSKeyGenerateRequest{Type: "EC_P256"}); err != nil {
		t.Fatalf("new TLS key in the token: %v", err)
	}
	tlsKeyInToken(t, d, module, label, pin)

	restartUnlockThenUnattended(t, d, admin, op, sc, func() {
		tlsKeyInToken(t, d, module, label, pin) // found again after a restart
	})

	// A wrong PIN: the appliance says so and does not retry (the token would lock).
	d.Stop()
	if err := os.WriteFile(pinFile, []byte("999999"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.Restart()
	waitState(t, d, "Failed")
	if reason := stateReason(t, d); !strings.Contains(reason, "PIN") {
		t.Errorf("reason with a wrong PIN: got %q, want it to name the PIN", reason)
	}
	d.Stop()
	if err := os.WriteFile(pinFile, []byte(pin), 0o600); err != nil {
		t.Fatal(err)
	}
	d.Restart()
	waitState(t, d, "Operational") // the token was not locked by the wrong PIN

	// Factory reset destroys what the appliance made in the token.
	before := tokenLabels(t, module, label, pin)
	if err := admin.FactoryReset(apptest.Context(t)); err != nil {
		t.Fatalf("factory reset: %v", err)
	}
	waitState(t, d, "Unprovisioned")
	d.Stop()
	after := tokenLabels(t, module, label, pin)
	tlsKeys := 0
	for l := range before {
		if strings.HasPrefix(l, "keywarden-tls-") {
			tlsKeys++
		}
		if strings.HasPrefix(l, "keywarden-tls-") && after[l] {
			t.Errorf("token object %s survived the factory reset", l)
		}
	}
	if tlsKeys == 0 {
		t.Fatalf("no TLS key in the token before the reset (labels %v); the check above proved nothing", before)
	}
	assertNoSecrets(t, d, unlockPass, adminPass, operatorPass, pin)
	assertNoSecretsIn(t, hsmtest.Dir(t), unlockPass, adminPass, operatorPass)
}

// tlsKeyInToken checks that the certificate the API presents certifies a key
// that lives in the token (and so never existed in the daemon's memory).
func tlsKeyInToken(t *testing.T, d *apptest.Daemon, module, label, pin string) {
	t.Helper()
	served := presented(t, d)[0].PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	found := false
	withToken(t, module, label, pin, func(ctx context.Context, m *hsm.Module, objs []hsm.Object) {
		for _, o := range objs {
			if !strings.HasPrefix(o.Label, "keywarden-tls-") || o.Class != hsm.ClassPrivateKey {
				continue
			}
			if o.Extractable {
				t.Errorf("TLS key %s is extractable", o.Label)
			}
			if s, err := m.Signer(ctx, o.Label); err == nil && served.Equal(s.Public()) {
				found = true
			}
		}
		if !found {
			t.Fatalf("the served TLS certificate's key is not a key in the token (objects: %+v)", objs)
		}
	})
}

// tokenLabels lists the labels of the objects in the token.
func tokenLabels(t *testing.T, module, label, pin string) map[string]bool {
	t.Helper()
	labels := map[string]bool{}
	withToken(t, module, label, pin, func(_ context.Context, _ *hsm.Module, objs []hsm.Object) {
		for _, o := range objs {
			labels[o.Label] = true
		}
	})
	return labels
}

// withToken opens the token as a second process would and hands fn its objects.
func withToken(t *testing.T, module, label, pin string, fn func(context.Context, *hsm.Module, []hsm.Object)) {
	t.Helper()
	ctx := apptest.Context(t)
	m, err := hsm.Open(ctx, hsm.Config{Module: module, TokenLabel: label, PIN: []byte(pin)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	objs, err := m.FindAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fn(ctx, m, objs)
}
