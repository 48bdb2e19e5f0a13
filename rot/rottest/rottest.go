// Package rottest is the conformance suite every rot.RootOfTrust backend must
// pass. A backend's own test calls Run with functions that open its device;
// the suite then checks the behaviour the appliance relies on: sealed secrets
// round-trip, only the sealing device can unseal, damaged blobs are refused
// with the documented errors, the identity key signs verifiably and survives a
// reopen, and Close is idempotent.
package rottest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/keywarden/keywarden/rot"
)

// MaxSecretSize is the largest secret the suite seals: rot.MaxSecretSize,
// which every backend must support.
const MaxSecretSize = rot.MaxSecretSize

// Opener opens a root of trust for a test. Calling it again must reopen the
// same device with the same persisted state (identity and sealing keys): the
// appliance depends on unsealing after a restart. The suite closes what it
// opens; an Opener may also register its own cleanup.
type Opener func(t *testing.T) rot.RootOfTrust

// Run runs the conformance cases as subtests of t. open opens the device under
// test; other opens a second, distinct device of the same backend, used to
// check that blobs do not move between devices.
func Run(t *testing.T, open, other Opener) {
	cases := []struct {
		name string
		run  func(t *testing.T, open, other Opener)
	}{
		{"RoundTrip", testRoundTrip},
		{"BlobsDiffer", testBlobsDiffer},
		{"Tampered", testTampered},
		{"Malformed", testMalformed},
		{"WrongDevice", testWrongDevice},
		{"IdentitySigns", testIdentitySigns},
		{"Reopen", testReopen},
		{"Concurrent", testConcurrent},
		{"Describe", testDescribe},
		{"Close", testClose},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, open, other) })
	}
}

// opened opens a device with open and closes it when the test ends.
func opened(t *testing.T, open Opener) rot.RootOfTrust {
	t.Helper()
	r := open(t)
	if r == nil {
		t.Fatal("open returned a nil root of trust")
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

// secret returns n deterministic, non-zero-looking bytes.
func secret(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 1)
	}
	return b
}

// seal seals s with r and fails the test on error.
func seal(t *testing.T, r rot.RootOfTrust, s []byte) []byte {
	t.Helper()
	blob, err := r.Seal(context.Background(), s)
	if err != nil {
		t.Fatalf("Seal(%d bytes): %v", len(s), err)
	}
	if len(s) >= 16 && bytes.Contains(blob, s) { // shorter secrets may match by chance
		t.Fatalf("Seal(%d bytes): blob contains the secret in plaintext", len(s))
	}
	return blob
}

// unsealEqual unseals blob with r and fails unless it yields want.
func unsealEqual(t *testing.T, r rot.RootOfTrust, blob, want []byte) {
	t.Helper()
	got, err := r.Unseal(context.Background(), blob)
	if err != nil {
		t.Fatalf("Unseal: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Unseal: got %x, want %x", got, want)
	}
}

func testRoundTrip(t *testing.T, open, _ Opener) {
	r := opened(t, open)
	for _, n := range []int{0, 1, 16, 32, 64, MaxSecretSize} {
		t.Run(fmt.Sprintf("%d bytes", n), func(t *testing.T) {
			s := secret(n)
			unsealEqual(t, r, seal(t, r, s), s)
		})
	}
}

func testBlobsDiffer(t *testing.T, open, _ Opener) {
	r := opened(t, open)
	s := secret(32)
	a, b := seal(t, r, s), seal(t, r, s)
	if bytes.Equal(a, b) {
		t.Errorf("two seals of the same secret: got identical blobs, want different ones")
	}
	unsealEqual(t, r, a, s)
	unsealEqual(t, r, b, s)
}

// testTampered flips one bit at several places; each damaged blob must be
// refused. Which sentinel is returned depends on where the damage lands.
func testTampered(t *testing.T, open, _ Opener) {
	r := opened(t, open)
	s := secret(32)
	blob := seal(t, r, s)
	for _, pos := range []int{0, len(blob) / 2, len(blob) - 1} {
		t.Run(fmt.Sprintf("byte %d of %d", pos, len(blob)), func(t *testing.T) {
			bad := bytes.Clone(blob)
			bad[pos] ^= 0x01
			got, err := r.Unseal(context.Background(), bad)
			if err == nil {
				t.Fatalf("Unseal(tampered): got %x and nil error, want an error", got)
			}
		})
	}
	unsealEqual(t, r, blob, s) // the original is unharmed
}

// testMalformed requires ErrMalformed for blobs that are not whole sealed
// blobs. A backend must check the length before anything else so that a
// truncated blob is never reported as another device's.
func testMalformed(t *testing.T, open, _ Opener) {
	r := opened(t, open)
	blob := seal(t, r, secret(32))
	inputs := map[string][]byte{
		"nil":           nil,
		"empty":         {},
		"one byte":      blob[:1],
		"half":          blob[:len(blob)/2],
		"one byte less": blob[:len(blob)-1],
		"garbage":       bytes.Repeat([]byte{0x5a}, len(blob)),
		"text":          []byte("this is not a sealed blob, honest"),
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			_, err := r.Unseal(context.Background(), in)
			if !errors.Is(err, rot.ErrMalformed) {
				t.Errorf("Unseal(%s): got %v, want an error wrapping rot.ErrMalformed", name, err)
			}
		})
	}
}

func testWrongDevice(t *testing.T, open, other Opener) {
	r, o := opened(t, open), opened(t, other)
	if samePublic(t, r, o) {
		t.Fatal("open and other returned the same identity key; want two distinct devices")
	}
	s := secret(32)
	for _, dir := range []struct {
		name     string
		from, to rot.RootOfTrust
	}{{"other to this", o, r}, {"this to other", r, o}} {
		t.Run(dir.name, func(t *testing.T) {
			got, err := dir.to.Unseal(context.Background(), seal(t, dir.from, s))
			if !errors.Is(err, rot.ErrWrongDevice) {
				t.Errorf("Unseal(foreign blob): got %x, %v; want an error wrapping rot.ErrWrongDevice", got, err)
			}
		})
	}
}

func testIdentitySigns(t *testing.T, open, _ Opener) {
	r := opened(t, open)
	signer := identity(t, r)
	msg := []byte("keywarden conformance message")
	if err := signVerify(signer, msg); err != nil {
		t.Fatal(err)
	}
	if err := verify(signer.Public(), []byte("a different message"), mustSign(t, signer, msg)); err == nil {
		t.Errorf("verify with a different message: got nil error, want a failure")
	}
}

// testReopen checks the identity key and sealed blobs survive Close and a
// fresh open of the same device, as they must survive a reboot.
func testReopen(t *testing.T, open, _ Opener) {
	first := open(t)
	s := secret(32)
	blob := seal(t, first, s)
	before := publicDER(t, identity(t, first).Public())
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	second := opened(t, open)
	if after := publicDER(t, identity(t, second).Public()); !bytes.Equal(before, after) {
		t.Errorf("identity public key after reopen: got %x, want %x", after, before)
	}
	unsealEqual(t, second, blob, s)
}

// testConcurrent exercises one device from several goroutines; run with -race.
func testConcurrent(t *testing.T, open, _ Opener) {
	r := opened(t, open)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range cap(errs) {
		wg.Go(func() {
			s := secret(i + 1)
			blob, err := r.Seal(context.Background(), s)
			if err != nil {
				errs <- fmt.Errorf("seal: %w", err)
				return
			}
			got, err := r.Unseal(context.Background(), blob)
			if err != nil || !bytes.Equal(got, s) {
				errs <- fmt.Errorf("unseal: got %x, %v; want %x", got, err, s)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func testDescribe(t *testing.T, open, _ Opener) {
	d, ok := opened(t, open).(rot.Describer)
	if !ok {
		t.Skip("backend does not implement rot.Describer")
	}
	if got := d.Describe(); got.Kind == "" {
		t.Errorf("Describe: got %+v, want a non-empty Kind", got)
	}
}

func testClose(t *testing.T, open, _ Opener) {
	r := open(t)
	blob := seal(t, r, secret(32))
	for i := range 2 {
		if err := r.Close(); err != nil {
			t.Fatalf("Close #%d: got %v, want nil", i+1, err)
		}
	}
	ctx := context.Background()
	uses := map[string]func() error{
		"Seal":     func() error { _, err := r.Seal(ctx, secret(32)); return err },
		"Unseal":   func() error { _, err := r.Unseal(ctx, blob); return err },
		"Identity": func() error { _, err := r.Identity(ctx); return err },
	}
	for name, use := range uses {
		if err := use(); !errors.Is(err, rot.ErrClosed) {
			t.Errorf("%s after Close: got %v, want an error wrapping rot.ErrClosed", name, err)
		}
	}
}

// identity returns r's identity key and fails the test on error.
func identity(t *testing.T, r rot.RootOfTrust) crypto.Signer {
	t.Helper()
	s, err := r.Identity(context.Background())
	if err != nil {
		t.Fatalf("Identity: %v", err)
	}
	return s
}

// samePublic reports whether a and b have the same identity public key.
func samePublic(t *testing.T, a, b rot.RootOfTrust) bool {
	t.Helper()
	return bytes.Equal(publicDER(t, identity(t, a).Public()), publicDER(t, identity(t, b).Public()))
}

func publicDER(t *testing.T, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatalf("marshal identity public key (%T): %v", pub, err)
	}
	return der
}

func mustSign(t *testing.T, s crypto.Signer, msg []byte) []byte {
	t.Helper()
	sig, err := sign(s, msg)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// signVerify signs msg with s and verifies the signature with s.Public().
func signVerify(s crypto.Signer, msg []byte) error {
	sig, err := sign(s, msg)
	if err != nil {
		return err
	}
	return verify(s.Public(), msg, sig)
}

// sign signs msg the way its key type expects: Ed25519 over the message,
// ECDSA and RSA (PKCS #1 v1.5) over its SHA-256 digest.
func sign(s crypto.Signer, msg []byte) ([]byte, error) {
	var (
		sig []byte
		err error
	)
	if _, ok := s.Public().(ed25519.PublicKey); ok {
		sig, err = s.Sign(nil, msg, crypto.Hash(0))
	} else {
		digest := sha256.Sum256(msg)
		sig, err = s.Sign(nil, digest[:], crypto.SHA256)
	}
	if err != nil {
		return nil, fmt.Errorf("identity sign (%T): %w", s.Public(), err)
	}
	return sig, nil
}

// verify checks sig over msg with pub, choosing the algorithm by key type.
func verify(pub crypto.PublicKey, msg, sig []byte) error {
	digest := sha256.Sum256(msg)
	switch pub := pub.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(pub, digest[:], sig) {
			return errors.New("identity verify: ecdsa signature invalid")
		}
	case ed25519.PublicKey:
		if !ed25519.Verify(pub, msg, sig) {
			return errors.New("identity verify: ed25519 signature invalid")
		}
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
			return fmt.Errorf("identity verify: %w", err)
		}
	default:
		return fmt.Errorf("identity verify: unsupported public key type %T", pub)
	}
	return nil
}
