//go:build cgo

package hsm

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/keywarden/keywarden/hsm/hsmtest"
)

// newConfig creates a token for t and returns a Config for it.
func newConfig(t *testing.T, label string) Config {
	t.Helper()
	module, label, pin := hsmtest.NewToken(t, label)
	return Config{Module: module, TokenLabel: label, PIN: []byte(pin)}
}

// mustOpen opens cfg and closes the Module when the test ends.
func mustOpen(t *testing.T, cfg Config) *Module {
	t.Helper()
	m, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open(%s): %v", cfg.TokenLabel, err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return m
}

// mustSigner generates an EC key labelled label in m.
func mustSigner(t testing.TB, m *Module, label string) *Signer {
	t.Helper()
	s, err := m.GenerateECKey(context.Background(), label)
	if err != nil {
		t.Fatalf("GenerateECKey(%s): %v", label, err)
	}
	return s
}

// signVerify signs msg's digest with s and checks the signature.
func signVerify(s *Signer, msg string) error {
	digest := sha256.Sum256([]byte(msg))
	sig, err := s.SignContext(context.Background(), digest[:], cryptoSHA256)
	if err != nil {
		return err
	}
	if !ecdsa.VerifyASN1(s.Public().(*ecdsa.PublicKey), digest[:], sig) {
		return errBadSignature
	}
	return nil
}

var (
	cryptoSHA256    = crypto.SHA256
	errBadSignature = errors.New("signature does not verify")
)
