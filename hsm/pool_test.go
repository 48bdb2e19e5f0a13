//go:build cgo

package hsm

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/keywarden/keywarden/hsm/hsmtest"
)

var hsmtestNewToken = hsmtest.NewToken

// signAll signs n messages concurrently with s and returns the first error.
func signAll(s *Signer, n int) error {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() { errs <- signVerify(s, fmt.Sprintf("message %d", i)) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// TestSessionsInvalidated closes every session of the process on the token
// behind the pool's back, which also logs the token out and (in SoftHSM2)
// forgets every object handle; the next operations must recover.
func TestSessionsInvalidated(t *testing.T) {
	cfg := newConfig(t, "invalidated")
	cfg.MaxSessions = 4
	m := mustOpen(t, cfg)
	s := mustSigner(t, m, "ec")
	for round := range 3 {
		if err := signAll(s, 8); err != nil { // fills the pool with idle sessions
			t.Fatalf("round %d, before: %v", round, err)
		}
		if err := m.lib.ctx.CloseAllSessions(m.pool.slot); err != nil {
			t.Fatal(err)
		}
		if err := signAll(s, 8); err != nil {
			t.Fatalf("round %d, after C_CloseAllSessions: got %v, want recovery", round, err)
		}
	}
	if _, err := m.Wrap(context.Background(), "missing", []byte("x"), nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("Wrap after recovery: got %v, want ErrNotFound (a working, logged-in session)", err)
	}
}

// TestTokenMoved gives the pool a slot ID that no longer exists, as after a
// re-insertion; the next session must be opened on the token found by label.
func TestTokenMoved(t *testing.T) {
	m := mustOpen(t, newConfig(t, "moved"))
	s := mustSigner(t, m, "ec")
	real := m.pool.slot
	m.pool.flush()
	m.pool.slot = real + 0xdead
	if err := signVerify(s, "after the move"); err != nil {
		t.Fatalf("sign after the slot changed: %v", err)
	}
	if m.pool.slot != real {
		t.Errorf("pool slot: got %d, want %d (found again by label)", m.pool.slot, real)
	}
}

// TestNoSessionLeak counts sessions through the library, not the pool.
func TestNoSessionLeak(t *testing.T) {
	cfg := newConfig(t, "leak")
	keep := mustOpen(t, cfg) // keeps the library initialised for counting
	s := mustSigner(t, keep, "ec")
	before := hsmtestSessions(t, keep)
	if before != 1 {
		t.Errorf("sessions with one idle Module: got %d, want 1", before)
	}
	cfg.MaxSessions = 3
	m, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := m.Signer(context.Background(), "ec")
	if err != nil {
		t.Fatal(err)
	}
	if err := signAll(ms, 12); err != nil {
		t.Fatal(err)
	}
	for range 5 { // failures must not leak sessions either
		m.Unwrap(context.Background(), "missing", append([]byte{byte(AESKeyWrapPad)}, make([]byte, 48)...), nil)
	}
	if got := hsmtestSessions(t, keep); got > before+cfg.MaxSessions {
		t.Errorf("sessions while the second Module is open: got %d, want at most %d", got, before+cfg.MaxSessions)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if got := hsmtestSessions(t, keep); got != before {
		t.Errorf("sessions after Close: got %d, want %d", got, before)
	}
	if err := signVerify(s, "still works"); err != nil {
		t.Errorf("first Module after the second closed: %v", err)
	}
}

// TestWaitForSession holds the only session; a second operation waits for
// it and gives up when its context ends.
func TestWaitForSession(t *testing.T) {
	cfg := newConfig(t, "wait")
	cfg.MaxSessions = 1
	m := mustOpen(t, cfg)
	s := mustSigner(t, m, "ec")
	held, err := m.pool.get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.SignContext(ctx, make([]byte, 32), nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("sign with every session taken: got %v, want DeadlineExceeded", err)
	}
	m.pool.put(held)
	if err := signVerify(s, "session free again"); err != nil {
		t.Errorf("sign after the session came back: %v", err)
	}
}
