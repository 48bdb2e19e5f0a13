//go:build cgo

package hsm

import (
	"context"
	"crypto"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
)

func TestSigner(t *testing.T) {
	cfg := newConfig(t, "signer")
	m := mustOpen(t, cfg)
	ctx := context.Background()
	s := mustSigner(t, m, "ec")
	if err := signVerify(s, "hello"); err != nil {
		t.Fatal(err)
	}
	again, err := m.Signer(ctx, "ec")
	if err != nil {
		t.Fatal(err)
	}
	if !s.pub.Equal(again.Public()) || again.Label() != "ec" {
		t.Errorf("Signer(ec): got a different key than GenerateECKey returned")
	}
	if _, err := m.Signer(ctx, "missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Signer(missing): got %v, want ErrNotFound", err)
	}
	digest := sha256.Sum256([]byte("x"))
	if _, err := s.Sign(nil, digest[:], crypto.SHA384); err == nil {
		t.Error("Sign with a SHA-256 digest named SHA-384: got nil error, want one")
	}
	if err := m.GenerateWrapKey(ctx, "aes"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Signer(ctx, "aes"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Signer(an AES key): got %v, want ErrNotFound", err)
	}
}

// TestConcurrentSigning signs from more goroutines than the pool has
// sessions; run with -race.
func TestConcurrentSigning(t *testing.T) {
	cfg := newConfig(t, "concurrent")
	cfg.MaxSessions = 4
	s := mustSigner(t, mustOpen(t, cfg), "ec")
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range cap(errs) {
		wg.Go(func() {
			for i := range 20 {
				if err := signVerify(s, fmt.Sprintf("goroutine %d message %d", g, i)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func BenchmarkSign(b *testing.B) {
	module, label, pin := hsmtestNewToken(b, "bench-sign")
	m, err := Open(context.Background(), Config{Module: module, TokenLabel: label, PIN: []byte(pin)})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	s := mustSigner(b, m, "ec")
	digest := sha256.Sum256([]byte("benchmark"))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Sign(nil, digest[:], crypto.SHA256); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
