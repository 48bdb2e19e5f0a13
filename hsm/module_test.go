//go:build cgo

package hsm

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/hsm/hsmtest"
	"github.com/miekg/pkcs11"
)

func TestOpenErrors(t *testing.T) {
	good := newConfig(t, "open-errors")
	with := func(f func(*Config)) Config { c := good; f(&c); return c }
	tests := []struct {
		name string
		cfg  Config
		want error
	}{
		{"missing module", with(func(c *Config) { c.Module = "/nonexistent/libpkcs11.so" }), ErrModule},
		{"unknown token", with(func(c *Config) { c.TokenLabel = "no-such-token" }), ErrTokenNotFound},
		{"wrong PIN", with(func(c *Config) { c.PIN = []byte("000000") }), ErrPIN},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Open(context.Background(), tt.cfg)
			if m != nil {
				m.Close()
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open: got %v, want an error wrapping %v", err, tt.want)
			}
		})
	}
	if n := len(registry.libs); n != 0 {
		t.Errorf("libraries loaded after failed Opens: got %d, want 0", n)
	}
	// The single refused login must not have locked the token.
	m := mustOpen(t, good)
	info, err := m.lib.ctx.GetTokenInfo(m.pool.slot)
	if err != nil {
		t.Fatal(err)
	}
	if info.Flags&pkcs11.CKF_USER_PIN_LOCKED != 0 {
		t.Errorf("token flags %#x: user PIN locked after one wrong PIN", info.Flags)
	}
}

func TestInitializeOnce(t *testing.T) {
	a, b := newConfig(t, "init-a"), newConfig(t, "init-b")
	ma, mb := mustOpen(t, a), mustOpen(t, b)
	if ma.lib != mb.lib || len(registry.libs) != 1 || ma.lib.refs != 2 {
		t.Fatalf("registry: got %d libraries, refs %d, shared %v; want 1 library with 2 refs",
			len(registry.libs), ma.lib.refs, ma.lib == mb.lib)
	}
	if err := ma.Close(); err != nil {
		t.Fatal(err)
	}
	if err := signVerify(mustSigner(t, mb, "k"), "still initialised"); err != nil {
		t.Fatalf("second Module after the first closed: %v", err)
	}
	if err := mb.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(registry.libs); n != 0 {
		t.Fatalf("libraries after the last Close: got %d, want 0 (finalised)", n)
	}
	// A fresh Open initialises the library again and finds the key.
	if _, err := mustOpen(t, b).Signer(context.Background(), "k"); err != nil {
		t.Fatalf("Signer after re-initialising: %v", err)
	}
}

func TestSharedLogin(t *testing.T) {
	cfg := newConfig(t, "shared-login")
	first := mustOpen(t, cfg)
	wrong := cfg
	wrong.PIN = []byte("not-the-pin")
	if m, err := Open(context.Background(), wrong); !errors.Is(err, ErrPIN) {
		if m != nil {
			m.Close()
		}
		t.Fatalf("second Open with a wrong PIN while logged in: got %v, want ErrPIN", err)
	}
	second := mustOpen(t, cfg)
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
	// Closing one Module of the token must not log the other out (recovery
	// would hide it, so look at the session's state).
	s, err := first.pool.get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer first.pool.put(s)
	if info, err := first.lib.ctx.GetSessionInfo(s); err != nil || info.State != pkcs11.CKS_RW_USER_FUNCTIONS {
		t.Fatalf("first Module's session after the second closed: got state %d, %v; want %d (logged in)",
			info.State, err, pkcs11.CKS_RW_USER_FUNCTIONS)
	}
}

// TestRefusedLoginNotRetried simulates the token's PIN changing under a
// running Module: the re-login after lost sessions is refused, and from then
// on the token is not asked again, even though a retry would now succeed.
func TestRefusedLoginNotRetried(t *testing.T) {
	cfg := newConfig(t, "refused")
	m := mustOpen(t, cfg)
	s := mustSigner(t, m, "k")
	in := m.lib.logins[cfg.TokenLabel]
	right := in.pin
	in.pin = []byte("changed")
	if err := m.lib.ctx.CloseAllSessions(m.pool.slot); err != nil { // logs the token out
		t.Fatal(err)
	}
	if err := signVerify(s, "after logout"); !errors.Is(err, ErrPIN) {
		t.Fatalf("sign after a refused re-login: got %v, want ErrPIN", err)
	}
	in.pin = right
	err := signVerify(s, "again")
	if !errors.Is(err, ErrPIN) || !strings.Contains(err.Error(), "not retried") {
		t.Fatalf("sign after the refusal: got %v, want the remembered ErrPIN (no new login)", err)
	}
}

func TestClose(t *testing.T) {
	cfg := newConfig(t, "close")
	m, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := mustSigner(t, m, "k")
	for i := range 2 {
		if err := m.Close(); err != nil {
			t.Fatalf("Close #%d: got %v, want nil", i+1, err)
		}
	}
	ctx := context.Background()
	uses := map[string]func() error{
		"Sign":   func() error { return signVerify(s, "x") },
		"Wrap":   func() error { _, err := m.Wrap(ctx, "w", []byte("x"), nil); return err },
		"Random": func() error { _, err := m.Random(ctx, 8); return err },
		"Find":   func() error { _, err := m.Find(ctx, "k"); return err },
	}
	for name, use := range uses {
		if err := use(); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: got %v, want ErrClosed", name, err)
		}
	}
}

func TestRandom(t *testing.T) {
	m := mustOpen(t, newConfig(t, "random"))
	ctx := context.Background()
	a, err := m.Random(ctx, 32)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := m.Random(ctx, 32)
	if len(a) != 32 || string(a) == string(b) {
		t.Errorf("Random(32) twice: got %x and %x, want two different 32-byte values", a, b)
	}
	if z, err := m.Random(ctx, 0); err != nil || len(z) != 0 {
		t.Errorf("Random(0): got %x, %v; want empty", z, err)
	}
	if _, err := m.Random(ctx, -1); err == nil {
		t.Error("Random(-1): got nil error, want one")
	}
}

func TestCancelledContext(t *testing.T) {
	cfg := newConfig(t, "cancel")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Open(ctx, cfg); !errors.Is(err, context.Canceled) {
		t.Errorf("Open: got %v, want context.Canceled", err)
	}
	m := mustOpen(t, cfg)
	if _, err := m.Random(ctx, 8); !errors.Is(err, context.Canceled) {
		t.Errorf("Random: got %v, want context.Canceled", err)
	}
}

// hsmtestSessions counts m's token's open sessions.
func hsmtestSessions(t *testing.T, m *Module) int {
	t.Helper()
	return hsmtest.Sessions(t, m.lib.path, m.label)
}
