package tpm_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2/transport"

	"github.com/keywarden/keywarden/rot"
	"github.com/keywarden/keywarden/rot/rottest"
	"github.com/keywarden/keywarden/rot/tpm"
	"github.com/keywarden/keywarden/rot/tpm/tpmtest"
)

// ctx returns a context that bounds one test step.
func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// open opens the TPM at device with state in dir, sealing to pcrs (nil: the
// default), and closes it when the test ends.
func open(t testing.TB, device, dir string, pcrs ...int) *tpm.TPM {
	t.Helper()
	r, err := tpm.Open(ctx(t), tpm.Config{Device: device, PCRs: pcrs, StateDir: dir})
	if err != nil {
		t.Fatalf("Open(%s): %v", device, err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// opener is a rottest.Opener for the TPM at device with state in dir.
func opener(device, dir string) rottest.Opener {
	return func(t *testing.T) rot.RootOfTrust {
		t.Helper()
		r, err := tpm.Open(ctx(t), tpm.Config{Device: device, StateDir: dir})
		if err != nil {
			t.Fatalf("Open(%s): %v", device, err)
		}
		return r
	}
}

func TestConformance(t *testing.T) {
	a, b := tpmtest.Start(t), tpmtest.Start(t)
	rottest.Run(t, opener(a, t.TempDir()), opener(b, t.TempDir()))
}

// TestUnixSocket checks the "unix:PATH" transport end to end.
func TestUnixSocket(t *testing.T) {
	r := open(t, tpmtest.StartUnix(t), t.TempDir())
	secret := []byte("sealed over a unix socket")
	blob := seal(t, r, secret)
	if got := unseal(t, r, blob); !bytes.Equal(got, secret) {
		t.Errorf("Unseal: got %q, want %q", got, secret)
	}
}

func TestConfig(t *testing.T) {
	device := tpmtest.Start(t)
	tests := []struct {
		name    string
		cfg     tpm.Config
		wantErr string // "" means Open succeeds
	}{
		{"default PCRs", tpm.Config{}, ""},
		{"PCR 24", tpm.Config{PCRs: []int{24}}, "PCR 24 out of range"},
		{"negative PCR", tpm.Config{PCRs: []int{-1}}, "PCR -1 out of range"},
		{"repeated PCR", tpm.Config{PCRs: []int{7, 16, 7}}, "PCR 7 listed twice"},
		{"no state dir", tpm.Config{StateDir: "-"}, "StateDir is required"},
		{"platform handle", tpm.Config{StorageKeyHandle: 0x81800000}, "not an owner persistent handle"},
		{"many PCRs", tpm.Config{PCRs: []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 16, 23}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Device = device
			switch tt.cfg.StateDir {
			case "-":
				tt.cfg.StateDir = ""
			case "":
				tt.cfg.StateDir = t.TempDir()
			}
			r, err := tpm.Open(ctx(t), tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Open: got %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer r.Close()
			secret := []byte("bound to many PCRs")
			if got := unseal(t, r, seal(t, r, secret)); !bytes.Equal(got, secret) {
				t.Errorf("Unseal: got %q, want %q", got, secret)
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	device := tpmtest.Start(t)
	got := open(t, device, t.TempDir(), 16, 7).Describe()
	if got.Kind != "tpm" || got.DevelopmentOnly {
		t.Errorf("Describe: got %+v, want Kind tpm, not development-only", got)
	}
	for _, want := range []string{device, "[7 16]", `"IBM"`} { // libtpms reports IBM
		if !strings.Contains(got.Detail, want) {
			t.Errorf("Describe().Detail = %q, want it to contain %q", got.Detail, want)
		}
	}
}

func TestUnavailable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := l.Addr().String()
	l.Close()
	for _, device := range []string{
		filepath.Join(t.TempDir(), "tpmrm0"),
		"tcp:" + closedPort,
		"unix:" + filepath.Join(t.TempDir(), "swtpm.sock"),
	} {
		t.Run(device, func(t *testing.T) {
			r, err := tpm.Open(ctx(t), tpm.Config{Device: device, StateDir: t.TempDir()})
			if !errors.Is(err, rot.ErrUnavailable) || !strings.Contains(err.Error(), device) {
				t.Fatalf("Open: got %v, %v; want an error wrapping rot.ErrUnavailable naming %s", r, err, device)
			}
		})
	}
}

// TestTPMGoesAway checks that a TPM that disappears gives ErrUnavailable,
// now and on later calls, instead of hanging or corrupting a later exchange.
func TestTPMGoesAway(t *testing.T) {
	device, stop := tpmtest.Launch(t)
	r := open(t, device, t.TempDir())
	stop()
	for i := range 2 {
		_, err := r.Seal(ctx(t), []byte("secret"))
		if !errors.Is(err, rot.ErrUnavailable) {
			t.Errorf("Seal #%d after the TPM went away: got %v, want an error wrapping rot.ErrUnavailable", i+1, err)
		}
	}
}

func TestIdentity(t *testing.T) {
	r := open(t, tpmtest.Start(t), t.TempDir())
	signer, err := r.Identity(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	pub, ok := signer.Public().(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Fatalf("Public: got %T, want a P-256 *ecdsa.PublicKey", signer.Public())
	}
	msg := []byte("device identity statement")
	d256, d384 := sha256.Sum256(msg), sha512.Sum384(msg)
	tests := []struct {
		name   string
		digest []byte
		hash   crypto.SignerOpts
		ok     bool
	}{
		{"SHA-256", d256[:], crypto.SHA256, true},
		{"SHA-384", d384[:], crypto.SHA384, true},
		{"short digest", d256[:20], crypto.SHA256, false},
		{"SHA-1", d256[:20], crypto.SHA1, false},
		{"no hash", d256[:], nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig, err := signer.Sign(nil, tt.digest, tt.hash)
			if !tt.ok {
				if err == nil {
					t.Fatalf("Sign: got a signature, want an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if !ecdsa.VerifyASN1(pub, tt.digest, sig) {
				t.Errorf("VerifyASN1: signature %x does not verify", sig)
			}
			other := slices.Clone(tt.digest)
			other[0] ^= 1
			if ecdsa.VerifyASN1(pub, other, sig) {
				t.Errorf("VerifyASN1 with another digest: got true, want false")
			}
		})
	}
}

// TestDeviceIDStable checks the device id comes from the TPM alone: the same
// after a reopen, even with a fresh state directory, and different on
// another TPM.
func TestDeviceIDStable(t *testing.T) {
	a, b := tpmtest.Start(t), tpmtest.Start(t)
	first := open(t, a, t.TempDir())
	id := first.DeviceID()
	if len(id) != 64 {
		t.Fatalf("DeviceID: got %q, want 64 hex digits", id)
	}
	first.Close()
	if got := open(t, a, t.TempDir()).DeviceID(); got != id {
		t.Errorf("DeviceID after reopen: got %s, want %s", got, id)
	}
	if got := open(t, b, t.TempDir()).DeviceID(); got == id {
		t.Errorf("DeviceID of another TPM: got %s, the same as the first", got)
	}
}

func TestRandom(t *testing.T) {
	r := open(t, tpmtest.Start(t), t.TempDir())
	for _, n := range []int{0, 1, 32, 64, 65, 1000} {
		got, err := r.Random(ctx(t), n)
		if err != nil || len(got) != n {
			t.Fatalf("Random(%d): got %d bytes, %v; want %d bytes", n, len(got), err, n)
		}
	}
	a, _ := r.Random(ctx(t), 32)
	b, _ := r.Random(ctx(t), 32)
	if bytes.Equal(a, b) {
		t.Errorf("two Random(32) calls returned the same bytes %x", a)
	}
	for _, n := range []int{-1, 1 << 20} {
		if _, err := r.Random(ctx(t), n); err == nil {
			t.Errorf("Random(%d): got nil error, want an error", n)
		}
	}
}

func TestPCRs(t *testing.T) {
	r := open(t, tpmtest.Start(t), t.TempDir(), 7, 16)
	before, err := r.PCRs(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(before) != 2 || len(before[7]) != 32 || len(before[16]) != 32 {
		t.Fatalf("PCRs: got %x, want 32-byte values for PCRs 7 and 16", before)
	}
	measurement := []byte("boot component")
	extend(t, r, 16, measurement)
	after, err := r.PCRs(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	m := sha256.Sum256(measurement)
	want := sha256.Sum256(append(slices.Clone(before[16]), m[:]...))
	if !bytes.Equal(after[16], want[:]) || !bytes.Equal(after[7], before[7]) {
		t.Errorf("PCRs after extending 16: got %x, want 7 unchanged and 16 = %x", after, want)
	}
}

func TestClosed(t *testing.T) {
	r := open(t, tpmtest.Start(t), t.TempDir())
	signer, err := r.Identity(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	digest := sha256.Sum256(nil)
	uses := map[string]func() error{
		"Random":  func() error { _, err := r.Random(ctx(t), 8); return err },
		"PCRs":    func() error { _, err := r.PCRs(ctx(t)); return err },
		"Destroy": func() error { return r.Destroy(ctx(t)) },
		"Sign":    func() error { _, err := signer.Sign(nil, digest[:], crypto.SHA256); return err },
	}
	for name, use := range uses {
		if err := use(); !errors.Is(err, rot.ErrClosed) {
			t.Errorf("%s after Close: got %v, want an error wrapping rot.ErrClosed", name, err)
		}
	}
}

// seal seals secret with r and fails the test on error.
func seal(t testing.TB, r *tpm.TPM, secret []byte) []byte {
	t.Helper()
	blob, err := r.Seal(ctx(t), secret)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return blob
}

// unseal unseals blob with r and fails the test on error.
func unseal(t testing.TB, r *tpm.TPM, blob []byte) []byte {
	t.Helper()
	secret, err := r.Unseal(ctx(t), blob)
	if err != nil {
		t.Fatalf("Unseal: %v", err)
	}
	return secret
}

// extend extends PCR pcr through r's own connection.
func extend(t testing.TB, r *tpm.TPM, pcr int, data []byte) {
	t.Helper()
	err := r.Exec(ctx(t), func(tr transport.TPM) error { return tpmtest.Extend(tr, pcr, data) })
	if err != nil {
		t.Fatal(err)
	}
}
