package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/appliance/apptest"
)

// TestWalkthrough runs the README's five-minute walk-through with the real
// kwctl binary against a real keywardend, so the README stays true.
func TestWalkthrough(t *testing.T) {
	d := apptest.Start(t, apptest.Options{})
	dir := t.TempDir()
	kw := func(env []string, args ...string) string {
		t.Helper()
		cmd := exec.Command(apptest.Kwctl(t), args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), append([]string{"KEYWARDEN_URL=" + d.URL}, env...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("kwctl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return string(out)
	}
	admin := []string{"KEYWARDEN_USER=admin", "KEYWARDEN_PASSPHRASE=correct horse admin"}
	operator := []string{"KEYWARDEN_USER=operator1", "KEYWARDEN_PASSPHRASE=operator passphrase"}

	kw([]string{"KEYWARDEN_UNLOCK_PASSPHRASE=correct horse unlock", "KEYWARDEN_ADMIN_PASSPHRASE=correct horse admin"}, "--insecure", "provision")
	if got := kw(nil, "--insecure", "state"); !strings.Contains(got, "Operational") {
		t.Fatalf("state after provision: got %q, want Operational", got)
	}
	if err := os.WriteFile(filepath.Join(dir, "appliance.pem"), []byte(kw(admin, "--insecure", "config", "tls", "cert")), 0o600); err != nil {
		t.Fatal(err)
	}
	kw(append(admin, "KEYWARDEN_NEW_PASSPHRASE=operator passphrase"), "--ca", "appliance.pem", "users", "add", "operator1", "--role", "Operator", "--real-name", "App Server")
	kw(admin, "--ca", "appliance.pem", "keys", "generate", "--id", "signer", "--type", "EC_P256", "--mechanisms", "ECDSA_Signature")
	pubPEM := kw(admin, "--ca", "appliance.pem", "keys", "public-pem", "signer")

	digest := sha256.Sum256([]byte("hello"))
	if err := os.WriteFile(filepath.Join(dir, "msg.sha256"), digest[:], 0o600); err != nil {
		t.Fatal(err)
	}
	kw(operator, "--ca", "appliance.pem", "keys", "sign", "signer", "--mode", "ECDSA", "--message-file", "msg.sha256", "--out", "sig.der")
	sig, err := os.ReadFile(filepath.Join(dir, "sig.der"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(pubPEM))
	if block == nil {
		t.Fatalf("public-pem printed no PEM: %q", pubPEM)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), digest[:], sig) {
		t.Fatal("the walk-through signature does not verify")
	}
	kw(admin, "--ca", "appliance.pem", "lock")
	if got := kw(nil, "--ca", "appliance.pem", "state"); !strings.Contains(got, "Locked") {
		t.Fatalf("state after lock: got %q, want Locked", got)
	}
	kw([]string{"KEYWARDEN_UNLOCK_PASSPHRASE=correct horse unlock"}, "--ca", "appliance.pem", "unlock")
	if got := kw(nil, "--ca", "appliance.pem", "state"); !strings.Contains(got, "Operational") {
		t.Fatalf("state after unlock: got %q, want Operational", got)
	}
}
