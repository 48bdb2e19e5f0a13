package pkcs11_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/keywarden/keywarden/hsm"
	"github.com/keywarden/keywarden/hsm/hsmtest"
	"github.com/keywarden/keywarden/rot"
	"github.com/keywarden/keywarden/rot/pkcs11"
)

// openHSM opens tk directly through package hsm, as a second user of the
// token would, and closes it when the test ends.
func openHSM(t *testing.T, tk token) *hsm.Module {
	t.Helper()
	m, err := hsm.Open(context.Background(), hsm.Config{Module: tk.module, TokenLabel: tk.label, PIN: []byte(tk.pin)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestKeysStayInToken(t *testing.T) {
	tk := newToken(t, "attrs")
	openT(t, tk.config())
	m := openHSM(t, tk)
	for _, label := range []string{pkcs11.WrapKeyLabel, pkcs11.IdentityKeyLabel} {
		objs, err := m.Find(context.Background(), label)
		if err != nil {
			t.Fatal(err)
		}
		secretOrPrivate := 0
		for _, o := range objs {
			if o.Class != hsm.ClassSecretKey && o.Class != hsm.ClassPrivateKey {
				continue
			}
			secretOrPrivate++
			if o.Extractable || !o.Sensitive || !o.Token {
				t.Errorf("%s (%s): got extractable=%v sensitive=%v token=%v, want false, true, true",
					label, o.Class, o.Extractable, o.Sensitive, o.Token)
			}
		}
		if secretOrPrivate != 1 {
			t.Errorf("%s: got %d secret or private keys, want 1", label, secretOrPrivate)
		}
	}
}

// TestNoPlaintextInTokenDir seals a known secret and scans every file SoftHSM2
// wrote for it.
func TestNoPlaintextInTokenDir(t *testing.T) {
	tk := newToken(t, "scan")
	r := openT(t, tk.config())
	ctx := context.Background()
	secret := []byte("KEYWARDEN-DEVICE-KEY-0123456789!")
	blob, err := r.Seal(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := r.Unseal(ctx, blob); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Unseal: got %q, %v; want the secret", got, err)
	}
	r.Close() // flush everything to disk
	files := 0
	err = filepath.WalkDir(hsmtest.Dir(t), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for _, needle := range [][]byte{secret, []byte(tk.pin)} {
			if bytes.Contains(data, needle) {
				t.Errorf("%s contains %q in plaintext", path, needle)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 3 { // token.object plus the two keys' files at least
		t.Errorf("scanned %d files, want the token's object files", files)
	}
}

func TestDestroy(t *testing.T) {
	tk := newToken(t, "destroy")
	ctx := context.Background()
	r := openT(t, tk.config())
	blob, err := r.Seal(ctx, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Signer(ctx, "tls"); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := r.Destroy(ctx); err != nil {
			t.Fatalf("Destroy #%d: %v", i+1, err)
		}
	}
	if _, err := r.Seal(ctx, []byte("x")); !errors.Is(err, rot.ErrClosed) {
		t.Errorf("Seal after Destroy: got %v, want rot.ErrClosed", err)
	}
	m := openHSM(t, tk)
	if objs, err := m.FindAll(ctx); err != nil || len(objs) != 0 {
		t.Errorf("objects after Destroy: got %+v, %v; want none", objs, err)
	}
	fresh := openT(t, tk.config())
	if _, err := fresh.Unseal(ctx, blob); !errors.Is(err, rot.ErrWrongDevice) {
		t.Errorf("Unseal of a pre-reset blob: got %v, want rot.ErrWrongDevice", err)
	}
}

func TestRandomAndDescribe(t *testing.T) {
	tk := newToken(t, "random")
	r := openT(t, tk.config())
	a, err := r.Random(context.Background(), 32)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := r.Random(context.Background(), 32)
	if len(a) != 32 || bytes.Equal(a, b) {
		t.Errorf("Random(32) twice: got %x and %x, want two different 32-byte values", a, b)
	}
	if _, err := r.Random(context.Background(), 4097); err == nil {
		t.Error("Random(4097): got nil error, want one")
	}
	want := rot.Description{Kind: "pkcs11", Detail: tk.label}
	if got := r.Describe(); got != want {
		t.Errorf("Describe: got %+v, want %+v", got, want)
	}
	if _, err := r.Seal(context.Background(), make([]byte, rot.MaxSecretSize+1)); err == nil {
		t.Errorf("Seal(%d bytes): got nil error, want one", rot.MaxSecretSize+1)
	}
}

func TestConcurrentIdentitySigning(t *testing.T) {
	tk := newToken(t, "signing")
	r := openT(t, tk.config())
	signer, err := r.Identity(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pub := signer.Public().(*ecdsa.PublicKey)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for g := range cap(errs) {
		wg.Go(func() {
			for i := range 10 {
				digest := sha256.Sum256(fmt.Appendf(nil, "%d/%d", g, i))
				sig, err := signer.Sign(nil, digest[:], crypto.SHA256)
				if err != nil || !ecdsa.VerifyASN1(pub, digest[:], sig) {
					errs <- fmt.Errorf("goroutine %d signature %d: err %v, verifies %v", g, i, err, err == nil)
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

// TestNoSessionLeak counts the token's sessions through the library while a
// second user keeps it initialised.
func TestNoSessionLeak(t *testing.T) {
	tk := newToken(t, "leak")
	openHSM(t, tk)
	before := hsmtest.Sessions(t, tk.module, tk.label)
	r, err := pkcs11.Open(context.Background(), tk.config())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 20 {
		blob, err := r.Seal(ctx, []byte{byte(i)})
		if err != nil {
			t.Fatal(err)
		}
		r.Unseal(ctx, blob)
		blob[len(blob)-1] ^= 1
		r.Unseal(ctx, blob) // a failure path too
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if after := hsmtest.Sessions(t, tk.module, tk.label); after != before {
		t.Errorf("sessions after Close: got %d, want %d as before Open", after, before)
	}
}

func benchToken(b *testing.B) *pkcs11.Token {
	module, label, pin := hsmtest.NewToken(b, "bench")
	f := filepath.Join(b.TempDir(), "pin")
	if err := os.WriteFile(f, []byte(pin), 0o600); err != nil {
		b.Fatal(err)
	}
	r, err := pkcs11.Open(context.Background(), pkcs11.Config{Module: module, TokenLabel: label, PINFile: f})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	return r
}

func BenchmarkSeal(b *testing.B) {
	r, secret := benchToken(b), make([]byte, 32)
	for b.Loop() {
		if _, err := r.Seal(context.Background(), secret); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnseal(b *testing.B) {
	r := benchToken(b)
	blob, err := r.Seal(context.Background(), make([]byte, 32))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := r.Unseal(context.Background(), blob); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	signer, err := benchToken(b).Identity(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256([]byte("benchmark"))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := signer.Sign(nil, digest[:], crypto.SHA256); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
