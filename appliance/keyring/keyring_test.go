package keyring_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/keywarden/keywarden/appliance/keyring"
)

// Layout of a sealed value: version || 12-byte nonce || ciphertext || 16-byte tag.
const (
	nonceSize = 12
	tagSize   = 16
)

func newSealer(t testing.TB, key []byte) *keyring.Sealer {
	t.Helper()
	s, err := keyring.NewSealer(key)
	if err != nil {
		t.Fatalf("NewSealer: %v", err)
	}
	return s
}

func TestSealOpenRoundTrip(t *testing.T) {
	s := newSealer(t, keyring.NewKey())
	tests := []struct {
		name      string
		plaintext []byte
	}{
		{"empty", []byte{}},
		{"short", []byte("secret")},
		{"binary", []byte{0, 1, 2, 0xff, 0}},
		{"large", bytes.Repeat([]byte("k"), 1<<20)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sealed := s.Seal("/kw/v1/test", tt.plaintext)
			if got, want := len(sealed), 1+nonceSize+len(tt.plaintext)+tagSize; got != want {
				t.Errorf("got sealed length %d, want %d", got, want)
			}
			if len(tt.plaintext) >= 4 && bytes.Contains(sealed, tt.plaintext) {
				t.Errorf("sealed value contains the plaintext")
			}
			got, err := s.Open("/kw/v1/test", sealed)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, tt.plaintext) {
				t.Errorf("got %d bytes back, want the %d sealed", len(got), len(tt.plaintext))
			}
		})
	}
}

func TestOpenRejects(t *testing.T) {
	key := keyring.NewKey()
	s := newSealer(t, key)
	const path = "/kw/v1/users/admin"
	sealed := s.Seal(path, []byte("a user record"))
	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 0x01
		return b
	}
	tests := []struct {
		name   string
		sealer *keyring.Sealer
		path   string
		value  []byte
	}{
		{"moved to another path", s, "/kw/v1/users/operator", sealed},
		{"moved to a prefix of its path", s, "/kw/v1/users/admi", sealed},
		{"moved to an extension of its path", s, path + "n", sealed},
		{"wrong key", newSealer(t, keyring.NewKey()), path, sealed},
		{"wrong version byte", s, path, append([]byte{2}, sealed[1:]...)},
		{"version byte zero", s, path, append([]byte{0}, sealed[1:]...)},
		{"tampered nonce", s, path, flip(1)},
		{"tampered ciphertext", s, path, flip(1 + nonceSize)},
		{"tampered tag", s, path, flip(len(sealed) - 1)},
		{"truncated by one byte", s, path, sealed[:len(sealed)-1]},
		{"truncated to header and tag", s, path, sealed[:1+nonceSize+tagSize-1]},
		{"only the version byte", s, path, sealed[:1]},
		{"empty", s, path, nil},
		{"extended by one byte", s, path, append(bytes.Clone(sealed), 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.sealer.Open(tt.path, tt.value)
			if !errors.Is(err, keyring.ErrOpen) {
				t.Fatalf("got (%q, %v), want an error wrapping ErrOpen", got, err)
			}
			if got != nil {
				t.Errorf("got plaintext %q with the error, want nil", got)
			}
		})
	}
	if _, err := s.Open(path, sealed); err != nil {
		t.Errorf("the untouched value no longer opens (the cases mutated it?): %v", err)
	}
}

func TestSealUsesFreshNonce(t *testing.T) {
	s := newSealer(t, keyring.NewKey())
	seen := map[string]bool{}
	for range 100 {
		sealed := s.Seal("/p", []byte("same plaintext"))
		nonce := string(sealed[1 : 1+nonceSize])
		if seen[nonce] {
			t.Fatalf("nonce %x repeated", nonce)
		}
		seen[nonce] = true
	}
}

func TestNewSealerKeyLength(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		if _, err := keyring.NewSealer(make([]byte, n)); err == nil {
			t.Errorf("NewSealer with a %d-byte key: got nil error, want one", n)
		}
	}
}

func TestNewKey(t *testing.T) {
	a, b := keyring.NewKey(), keyring.NewKey()
	if len(a) != keyring.KeySize {
		t.Errorf("got %d bytes, want %d", len(a), keyring.KeySize)
	}
	if bytes.Equal(a, b) {
		t.Errorf("two NewKey calls returned the same key")
	}
}

func mustSubkey(t testing.TB, master []byte, purpose string) []byte {
	t.Helper()
	k, err := keyring.Subkey(master, purpose)
	if err != nil {
		t.Fatalf("Subkey(%q): %v", purpose, err)
	}
	return k
}

func TestSubkeyDeterministicAndIndependent(t *testing.T) {
	master := keyring.NewKey()
	purposes := []string{keyring.PurposeStore, keyring.PurposeLocalStore, keyring.PurposeAuthCache}
	seen := map[string]string{string(master): "the master key"}
	for _, p := range purposes {
		k := mustSubkey(t, master, p)
		if len(k) != keyring.KeySize {
			t.Errorf("%s: got %d bytes, want %d", p, len(k), keyring.KeySize)
		}
		if again := mustSubkey(t, master, p); !bytes.Equal(k, again) {
			t.Errorf("%s: got a different sub-key on the second derivation", p)
		}
		if other, dup := seen[string(k)]; dup {
			t.Errorf("%s: sub-key equals %s", p, other)
		}
		seen[string(k)] = p
	}
	other := mustSubkey(t, keyring.NewKey(), keyring.PurposeStore)
	if bytes.Equal(other, mustSubkey(t, master, keyring.PurposeStore)) {
		t.Errorf("two master keys gave the same store sub-key")
	}
}

func TestSubkeyMasterLength(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := keyring.Subkey(make([]byte, n), keyring.PurposeStore); err == nil {
			t.Errorf("Subkey with a %d-byte master: got nil error, want one", n)
		}
		if _, err := keyring.NewSubSealer(make([]byte, n), keyring.PurposeStore); err == nil {
			t.Errorf("NewSubSealer with a %d-byte master: got nil error, want one", n)
		}
	}
}

// TestSubSealerUsesSubkey checks that NewSubSealer seals under the purpose's
// sub-key, not the master, so values of one purpose never open under another.
func TestSubSealerUsesSubkey(t *testing.T) {
	master := keyring.NewKey()
	store, err := keyring.NewSubSealer(master, keyring.PurposeStore)
	if err != nil {
		t.Fatalf("NewSubSealer: %v", err)
	}
	sealed := store.Seal("/p", []byte("v"))
	if _, err := newSealer(t, mustSubkey(t, master, keyring.PurposeStore)).Open("/p", sealed); err != nil {
		t.Errorf("open with the store sub-key: %v", err)
	}
	for name, key := range map[string][]byte{
		"master":             master,
		"local-store subkey": mustSubkey(t, master, keyring.PurposeLocalStore),
	} {
		if _, err := newSealer(t, key).Open("/p", sealed); !errors.Is(err, keyring.ErrOpen) {
			t.Errorf("open with the %s: got %v, want ErrOpen", name, err)
		}
	}
}
