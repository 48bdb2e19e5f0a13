package soft_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/keywarden/keywarden/rot"
	"github.com/keywarden/keywarden/rot/rottest"
	"github.com/keywarden/keywarden/rot/soft"
)

// opener returns a rottest.Opener for the key file at path.
func opener(path string) rottest.Opener {
	return func(t *testing.T) rot.RootOfTrust {
		t.Helper()
		s, err := soft.Open(path, nil)
		if err != nil {
			t.Fatalf("Open(%s): %v", path, err)
		}
		return s
	}
}

func TestConformance(t *testing.T) {
	dir := t.TempDir()
	rottest.Run(t, opener(filepath.Join(dir, "a.key")), opener(filepath.Join(dir, "b.key")))
}

// openT opens path and closes it at the end of the test.
func openT(t *testing.T, path string) *soft.Soft {
	t.Helper()
	s, err := soft.Open(path, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestCreatesPrivateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rot.key")
	s := openT(t, path)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != 0o600 {
		t.Errorf("key file mode: got %04o, want 0600", got)
	}
	want := rot.Description{Kind: "soft", DevelopmentOnly: true, Detail: path}
	if got := s.Describe(); got != want {
		t.Errorf("Describe: got %+v, want %+v", got, want)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("key directory: got %d entries, want 1 (no temporary file left)", len(entries))
	}
}

func TestPermissions(t *testing.T) {
	tests := []struct {
		mode    os.FileMode
		wantErr error
	}{
		{0o600, nil}, {0o400, nil},
		{0o640, soft.ErrInsecureFile}, {0o604, soft.ErrInsecureFile},
		{0o660, soft.ErrInsecureFile}, {0o644, soft.ErrInsecureFile}, {0o602, soft.ErrInsecureFile},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "rot.key")
			openT(t, path).Close()
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			s, err := soft.Open(path, nil)
			if s != nil {
				s.Close()
			}
			if !errors.Is(err, tt.wantErr) || (tt.wantErr != nil) != (err != nil) {
				t.Errorf("Open with mode %04o: got %v, want %v", tt.mode, err, tt.wantErr)
			}
		})
	}
}

func TestBadKeyFileIsKept(t *testing.T) {
	good := filepath.Join(t.TempDir(), "good.key")
	openT(t, good).Close()
	goodData, _ := os.ReadFile(good)
	first, _ := pem.Decode(goodData)
	tests := map[string][]byte{
		"empty":         {},
		"garbage":       []byte("not a key file"),
		"only seal key": pem.EncodeToMemory(first),
		"trailing data": append(bytes.Clone(goodData), "extra"...),
		"short seal key": pem.EncodeToMemory(&pem.Block{
			Type: first.Type, Bytes: first.Bytes[:16]}),
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "rot.key")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			if s, err := soft.Open(path, nil); err == nil {
				s.Close()
				t.Fatalf("Open(%s): got nil error, want one", name)
			}
			if got, _ := os.ReadFile(path); !bytes.Equal(got, data) {
				t.Errorf("key file after failed Open: got %q, want it unchanged", got)
			}
		})
	}
}

func TestConcurrentCreateAgrees(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rot.key")
	ders := make([][]byte, 4)
	var wg sync.WaitGroup
	for i := range ders {
		wg.Go(func() {
			s, err := soft.Open(path, nil)
			if err != nil {
				t.Errorf("Open: %v", err)
				return
			}
			defer s.Close()
			id, _ := s.Identity(context.Background())
			ders[i], _ = x509.MarshalPKIXPublicKey(id.Public())
		})
	}
	wg.Wait()
	for i := range ders {
		if !bytes.Equal(ders[i], ders[0]) {
			t.Errorf("opener %d: got identity %x, want %x (all openers share one file)", i, ders[i], ders[0])
		}
	}
}

func TestBlobHeader(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "rot.key"))
	ctx := context.Background()
	blob, err := s.Seal(ctx, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		pos  int
		want error
	}{
		{"magic", 0, rot.ErrMalformed},
		{"version", 4, rot.ErrMalformed},
		{"device id", 5, rot.ErrWrongDevice},
		{"device id end", 36, rot.ErrWrongDevice},
		{"nonce", 37, rot.ErrMalformed},
		{"tag", len(blob) - 1, rot.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := bytes.Clone(blob)
			bad[tt.pos] ^= 0x80
			if _, err := s.Unseal(ctx, bad); !errors.Is(err, tt.want) {
				t.Errorf("Unseal with byte %d flipped: got %v, want %v", tt.pos, err, tt.want)
			}
		})
	}
}

func TestSecretSizeLimit(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "rot.key"))
	if _, err := s.Seal(context.Background(), make([]byte, soft.MaxSecretSize+1)); err == nil {
		t.Errorf("Seal(%d bytes): got nil error, want one", soft.MaxSecretSize+1)
	}
}

func TestCancelledContext(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "rot.key"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Seal(ctx, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Seal with cancelled ctx: got %v, want context.Canceled", err)
	}
}

func TestDestroy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rot.key")
	s := openT(t, path)
	ctx := context.Background()
	blob, err := s.Seal(ctx, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // idempotent: the file is already gone the second time
		if err := s.Destroy(ctx); err != nil {
			t.Fatalf("Destroy #%d: %v", i+1, err)
		}
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("key file after Destroy: got stat error %v, want not-exist", err)
	}
	if _, err := s.Seal(ctx, []byte("x")); !errors.Is(err, rot.ErrClosed) {
		t.Errorf("Seal after Destroy: got %v, want rot.ErrClosed", err)
	}
	fresh := openT(t, path)
	if _, err := fresh.Unseal(ctx, blob); !errors.Is(err, rot.ErrWrongDevice) {
		t.Errorf("Unseal of pre-reset blob: got %v, want rot.ErrWrongDevice", err)
	}
}

func TestLogsWarnWithoutSecrets(t *testing.T) {
	var logs bytes.Buffer
	path := filepath.Join(t.TempDir(), "rot.key")
	s, err := soft.Open(path, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "development-only") {
		t.Errorf("logs: got %q, want a development-only warning", logs.String())
	}
	data, _ := os.ReadFile(path)
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		for _, secret := range [][]byte{block.Bytes, pem.EncodeToMemory(block)} {
			if bytes.Contains(logs.Bytes(), secret) {
				t.Errorf("logs contain the %s", block.Type)
			}
		}
	}
}
