package tpm_test

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/keywarden/keywarden/rot"
	"github.com/keywarden/keywarden/rot/tpm"
	"github.com/keywarden/keywarden/rot/tpm/tpmtest"
)

// Offsets in a version 1 blob, for tests that forge headers.
const (
	deviceAt  = 6  // magic, version, flags
	storageAt = 38 // device id
	headerEnd = 70 // storage key id; the PCR list follows
)

// TestPCRPolicy is the reboot scenario: seal, restart with a changed PCR,
// unseal. Each case runs on a fresh TPM.
func TestPCRPolicy(t *testing.T) {
	tests := []struct {
		name     string
		sealTo   []int
		extend   []int
		wantPCRs string // the error names these; "" means Unseal succeeds
	}{
		{"sealed PCR extended", []int{16}, []int{16}, "PCR 16 changed"},
		{"other PCR extended", []int{16}, []int{23}, ""},
		{"two of three extended", []int{7, 16, 23}, []int{16, 23}, "PCRs 16, 23 changed"},
		{"nothing extended", []int{7, 16}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			device, dir := tpmtest.Start(t), t.TempDir()
			secret := []byte("device key bound to the boot state")
			r := open(t, device, dir, tt.sealTo...)
			blob := seal(t, r, secret)
			r.Close()
			for _, p := range tt.extend {
				tpmtest.ExtendPCR(t, device, p, []byte("a different boot loader"))
			}
			r = open(t, device, dir, tt.sealTo...)
			got, err := r.Unseal(ctx(t), blob)
			if tt.wantPCRs == "" {
				if err != nil || !bytes.Equal(got, secret) {
					t.Fatalf("Unseal: got %q, %v; want %q", got, err, secret)
				}
				return
			}
			if !errors.Is(err, rot.ErrPolicy) || !strings.Contains(err.Error(), tt.wantPCRs) {
				t.Fatalf("Unseal: got %q, %v; want an error wrapping rot.ErrPolicy containing %q", got, err, tt.wantPCRs)
			}
			// A secret sealed now is bound to the new values.
			if got := unseal(t, r, seal(t, r, secret)); !bytes.Equal(got, secret) {
				t.Errorf("Unseal after resealing: got %q, want %q", got, secret)
			}
		})
	}
}

func TestWrongDevice(t *testing.T) {
	a := open(t, tpmtest.Start(t), t.TempDir())
	b := open(t, tpmtest.Start(t), t.TempDir())
	secret := []byte("belongs to TPM A")
	fromA, fromB := seal(t, a, secret), seal(t, b, secret)
	if _, err := b.Unseal(ctx(t), fromA); !errors.Is(err, rot.ErrWrongDevice) {
		t.Errorf("B.Unseal(blob from A): got %v, want an error wrapping rot.ErrWrongDevice", err)
	}
	// A's blob relabelled as B's: the header now names B, but the TPM's
	// integrity check refuses A's object.
	forged := slices.Clone(fromA)
	copy(forged[deviceAt:headerEnd], fromB[deviceAt:headerEnd])
	got, err := b.Unseal(ctx(t), forged)
	if !errors.Is(err, rot.ErrMalformed) {
		t.Errorf("B.Unseal(A's blob with B's header): got %q, %v; want an error wrapping rot.ErrMalformed", got, err)
	}
}

// TestMalformed covers damage that parses but contradicts itself or the TPM;
// rottest covers truncation and garbage.
func TestMalformed(t *testing.T) {
	r := open(t, tpmtest.Start(t), t.TempDir(), 7, 16)
	blob := seal(t, r, []byte("thirty-two bytes of device key.."))
	empty := seal(t, r, nil)
	tests := []struct {
		name   string
		blob   []byte
		change func(b []byte)
	}{
		{"version", blob, func(b []byte) { b[4] = 2 }},
		{"unknown flag", blob, func(b []byte) { b[5] = 0x80 }},
		{"empty flag set", blob, func(b []byte) { b[5] = 1 }},
		{"empty flag cleared", empty, func(b []byte) { b[5] = 0 }},
		{"PCR index", blob, func(b []byte) { b[headerEnd+2] = 17 }},
		{"PCR index out of range", blob, func(b []byte) { b[headerEnd+2] = 24 }},
		{"PCR value", blob, func(b []byte) { b[headerEnd+3] ^= 1 }},
		{"private part", blob, func(b []byte) { b[len(b)-10] ^= 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := slices.Clone(tt.blob)
			tt.change(bad)
			got, err := r.Unseal(ctx(t), bad)
			if !errors.Is(err, rot.ErrMalformed) {
				t.Errorf("Unseal: got %q, %v; want an error wrapping rot.ErrMalformed", got, err)
			}
		})
	}
	if got := unseal(t, r, empty); got == nil || len(got) != 0 {
		t.Errorf("Unseal(empty secret): got %#v, want an empty non-nil slice", got)
	}
}

func TestSecretTooLarge(t *testing.T) {
	r := open(t, tpmtest.Start(t), t.TempDir())
	if _, err := r.Seal(ctx(t), make([]byte, rot.MaxSecretSize+1)); err == nil {
		t.Errorf("Seal(%d bytes): got nil error, want an error", rot.MaxSecretSize+1)
	}
}

// TestNoHandleLeak runs every operation, including the failure paths, and
// then requires the TPM to hold no transient object or session, both while
// the root of trust is open and after Close.
func TestNoHandleLeak(t *testing.T) {
	device := tpmtest.Start(t)
	r := open(t, device, t.TempDir(), 16)
	signer, err := r.Identity(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("message"))
	for i := range 10 {
		secret := []byte(fmt.Sprintf("secret %d", i))
		blob := seal(t, r, secret)
		if got := unseal(t, r, blob); !bytes.Equal(got, secret) {
			t.Fatalf("Unseal: got %q, want %q", got, secret)
		}
		if _, err := signer.Sign(nil, digest[:], crypto.SHA256); err != nil {
			t.Fatal(err)
		}
		damaged := slices.Clone(blob)
		damaged[len(damaged)-1] ^= 1
		if _, err := r.Unseal(ctx(t), damaged); !errors.Is(err, rot.ErrMalformed) {
			t.Fatalf("Unseal(damaged): got %v, want rot.ErrMalformed", err)
		}
		extend(t, r, 16, secret)
		if _, err := r.Unseal(ctx(t), blob); !errors.Is(err, rot.ErrPolicy) {
			t.Fatalf("Unseal after extending PCR 16: got %v, want rot.ErrPolicy", err)
		}
	}
	err = r.Exec(ctx(t), func(tr transport.TPM) error { return noTransient(tr) })
	if err != nil {
		t.Errorf("while open: %v", err)
	}
	r.Close()
	tpmtest.With(t, device, noTransient)
}

// noTransient fails unless the TPM holds no loaded object or session.
func noTransient(tr transport.TPM) error {
	for _, kind := range []tpm2.TPMHT{tpm2.TPMHTTransient, tpm2.TPMHTHMACSession, tpm2.TPMHTPolicySession} {
		hs, err := tpmtest.Handles(tr, kind)
		if err != nil {
			return err
		}
		if len(hs) != 0 {
			return fmt.Errorf("handles of type %#x: got %#x, want none", kind, hs)
		}
	}
	return nil
}

// TestStateDirHasNoSecret scans the state directory for a sealed secret.
func TestStateDirHasNoSecret(t *testing.T) {
	dir := t.TempDir()
	r := open(t, tpmtest.Start(t), dir)
	secret := []byte("0123456789abcdef-this-must-never-be-on-disk")
	if got := unseal(t, r, seal(t, r, secret)); !bytes.Equal(got, secret) {
		t.Fatalf("Unseal: got %q, want %q", got, secret)
	}
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		data, err := os.ReadFile(path)
		if err == nil && bytes.Contains(data, secret) {
			t.Errorf("%s contains the sealed secret in plaintext", path)
		}
		return err
	})
	if err != nil || files == 0 {
		t.Fatalf("scan %s: %d files, %v; want the state record and no error", dir, files, err)
	}
}

func BenchmarkSeal(b *testing.B) {
	r := open(b, tpmtest.Start(b), b.TempDir())
	secret := make([]byte, 32)
	for b.Loop() {
		seal(b, r, secret)
	}
}

// BenchmarkUnseal measures what an unattended boot waits for: load, salted
// policy session, PolicyPCR, Unseal, flushes.
func BenchmarkUnseal(b *testing.B) {
	r := open(b, tpmtest.Start(b), b.TempDir())
	blob := seal(b, r, make([]byte, 32))
	for b.Loop() {
		unseal(b, r, blob)
	}
}

// BenchmarkOpen measures Open on a TPM whose storage key already exists,
// the normal boot.
func BenchmarkOpen(b *testing.B) {
	device, dir := tpmtest.Start(b), b.TempDir()
	open(b, device, dir).Close()
	for b.Loop() {
		r, err := tpm.Open(ctx(b), tpm.Config{Device: device, StateDir: dir})
		if err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
}

func BenchmarkSign(b *testing.B) {
	r := open(b, tpmtest.Start(b), b.TempDir())
	signer, err := r.Identity(ctx(b))
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256(nil)
	for b.Loop() {
		if _, err := signer.Sign(nil, digest[:], crypto.SHA256); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSecretNeverInClear records the traffic to the TPM while sealing and
// unsealing: the secret must cross the bus only encrypted by the salted
// session.
func TestSecretNeverInClear(t *testing.T) {
	device, traffic := tpmtest.Tap(t, tpmtest.Start(t))
	r := open(t, device, t.TempDir())
	secret := []byte("device key: 0123456789abcdef....")
	if got := unseal(t, r, seal(t, r, secret)); !bytes.Equal(got, secret) {
		t.Fatalf("Unseal: got %q, want %q", got, secret)
	}
	seen := traffic()
	if len(seen) == 0 {
		t.Fatal("the tap recorded no traffic")
	}
	if bytes.Contains(seen, secret) {
		t.Errorf("the secret crossed the bus in clear")
	}
}
