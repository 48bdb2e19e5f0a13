package pkcs11_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/hsm/hsmtest"
	"github.com/keywarden/keywarden/rot"
	"github.com/keywarden/keywarden/rot/pkcs11"
	"github.com/keywarden/keywarden/rot/rottest"
)

// token is a SoftHSM2 token made for a test, with its PIN in a file.
type token struct {
	module, label, pin, pinFile string
}

func newToken(t *testing.T, label string) token {
	t.Helper()
	module, label, pin := hsmtest.NewToken(t, label)
	return token{module, label, pin, writePIN(t, pin)}
}

// writePIN writes pin, with the newline an editor or echo would add, to a
// 0600 file.
func writePIN(t *testing.T, pin string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(f, []byte(pin+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func (tk token) config() pkcs11.Config {
	return pkcs11.Config{Module: tk.module, TokenLabel: tk.label, PINFile: tk.pinFile}
}

func (tk token) opener() rottest.Opener {
	return func(t *testing.T) rot.RootOfTrust {
		t.Helper()
		r, err := pkcs11.Open(context.Background(), tk.config())
		if err != nil {
			t.Fatalf("Open(%s): %v", tk.label, err)
		}
		return r
	}
}

// openT opens cfg and closes it when the test ends.
func openT(t *testing.T, cfg pkcs11.Config) *pkcs11.Token {
	t.Helper()
	r, err := pkcs11.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open(%s): %v", cfg.TokenLabel, err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestConformance(t *testing.T) {
	a, b := newToken(t, "rot-a"), newToken(t, "rot-b") // both before any Open
	rottest.Run(t, a.opener(), b.opener())
}

func TestWrongPIN(t *testing.T) {
	tk := newToken(t, "wrong-pin")
	cfg := tk.config()
	cfg.PINFile = writePIN(t, "not-"+tk.pin)
	var logs bytes.Buffer
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	r, err := pkcs11.Open(context.Background(), cfg)
	if r != nil {
		r.Close()
	}
	if !errors.Is(err, rot.ErrAuth) || !strings.Contains(err.Error(), "PIN") {
		t.Fatalf("Open with a wrong PIN: got %v, want rot.ErrAuth naming the PIN", err)
	}
	// One refused login must not lock the token: the right PIN still works.
	right := tk.config()
	right.Logger = cfg.Logger
	r = openT(t, right)
	if _, err := r.Seal(context.Background(), []byte("after a wrong PIN")); err != nil {
		t.Errorf("Seal with the right PIN after a wrong one: %v", err)
	}
	r.Close()
	if !strings.Contains(logs.String(), "pkcs11 root of trust opened") {
		t.Errorf("logs: got %q, want the open logged", logs.String())
	}
	if strings.Contains(err.Error(), tk.pin) || strings.Contains(logs.String(), tk.pin) {
		t.Error("the error or the logs contain the PIN")
	}
}

func TestUnavailable(t *testing.T) {
	tk := newToken(t, "present")
	tests := []struct {
		name string
		edit func(*pkcs11.Config)
	}{
		{"token missing", func(c *pkcs11.Config) { c.TokenLabel = "absent" }},
		{"module missing", func(c *pkcs11.Config) { c.Module = "/nonexistent/libpkcs11.so" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tk.config()
			tt.edit(&cfg)
			r, err := pkcs11.Open(context.Background(), cfg)
			if r != nil {
				r.Close()
			}
			if !errors.Is(err, rot.ErrUnavailable) {
				t.Errorf("Open: got %v, want rot.ErrUnavailable", err)
			}
		})
	}
}

func TestPINFile(t *testing.T) {
	tk := newToken(t, "pin-file")
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // WriteFile's mode is subject to umask
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		path string
		ok   bool
	}{
		{"no newline", write("plain", tk.pin, 0o600), true},
		{"CRLF", write("crlf", tk.pin+"\r\n", 0o400), true},
		{"group readable", write("group", tk.pin, 0o640), false},
		{"empty", write("empty", "\n", 0o600), false},
		{"missing", filepath.Join(dir, "missing"), false},
		{"directory", dir, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tk.config()
			cfg.PINFile = tt.path
			r, err := pkcs11.Open(context.Background(), cfg)
			if r != nil {
				r.Close()
			}
			if (err == nil) != tt.ok {
				t.Errorf("Open with PIN file %s: got %v, want ok=%v", tt.name, err, tt.ok)
			}
		})
	}
}
