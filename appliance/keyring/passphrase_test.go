package keyring_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"testing"

	"github.com/keywarden/keywarden/appliance/keyring"
)

// huge is a record a corrupt or hostile store could hold: Argon2id with 4 TiB
// of memory. It must be refused before anything is allocated.
var huge = keyring.KDFParams{Time: 1, MemoryKiB: math.MaxUint32, Threads: 1}

func TestKDFParamsValidate(t *testing.T) {
	tests := []struct {
		name string
		p    keyring.KDFParams
		ok   bool
	}{
		{"default", keyring.DefaultKDF, true},
		{"test", keyring.TestKDF, true},
		{"lower bounds", keyring.KDFParams{Time: 1, MemoryKiB: 8, Threads: 1}, true},
		{"upper bounds", keyring.KDFParams{Time: 8, MemoryKiB: 256 << 10, Threads: 16}, true},
		{"zero", keyring.KDFParams{}, false},
		{"no passes", keyring.KDFParams{Time: 0, MemoryKiB: 64, Threads: 1}, false},
		{"too many passes", keyring.KDFParams{Time: 9, MemoryKiB: 64, Threads: 1}, false},
		{"too little memory", keyring.KDFParams{Time: 1, MemoryKiB: 7, Threads: 1}, false},
		{"more than 256 MiB", keyring.KDFParams{Time: 1, MemoryKiB: 256<<10 + 1, Threads: 1}, false},
		{"huge memory", huge, false},
		{"no threads", keyring.KDFParams{Time: 1, MemoryKiB: 64, Threads: 0}, false},
		{"too many threads", keyring.KDFParams{Time: 1, MemoryKiB: 64, Threads: 17}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if (err == nil) != tt.ok {
				t.Errorf("Validate(%+v): got %v, want ok=%v", tt.p, err, tt.ok)
			}
		})
	}
}

func TestDerive(t *testing.T) {
	salt := []byte("0123456789abcdef")
	k, err := keyring.Derive("passphrase", salt, keyring.TestKDF)
	if err != nil {
		t.Fatalf("Derive: %v", err)
	}
	if len(k) != keyring.KeySize {
		t.Errorf("got %d bytes, want %d", len(k), keyring.KeySize)
	}
	stronger := keyring.TestKDF
	stronger.Time++
	variants := map[string]func() ([]byte, error){
		"same inputs":      func() ([]byte, error) { return keyring.Derive("passphrase", salt, keyring.TestKDF) },
		"other passphrase": func() ([]byte, error) { return keyring.Derive("passphrasf", salt, keyring.TestKDF) },
		"other salt": func() ([]byte, error) {
			return keyring.Derive("passphrase", []byte("0123456789abcdeg"), keyring.TestKDF)
		},
		"other cost": func() ([]byte, error) { return keyring.Derive("passphrase", salt, stronger) },
	}
	for name, derive := range variants {
		got, err := derive()
		if err != nil {
			t.Fatalf("%s: Derive: %v", name, err)
		}
		if want := name == "same inputs"; bytes.Equal(got, k) != want {
			t.Errorf("%s: got equal=%v, want %v", name, !want, want)
		}
	}
	if _, err := keyring.Derive("passphrase", salt, huge); err == nil {
		t.Errorf("Derive with %+v: got nil error, want one", huge)
	}
}

func TestHashPassphraseVerify(t *testing.T) {
	const pass = "correct horse battery"
	h, err := keyring.HashPassphrase(pass, keyring.TestKDF)
	if err != nil {
		t.Fatalf("HashPassphrase: %v", err)
	}
	if h.KDF != keyring.TestKDF {
		t.Errorf("got KDF %+v, want %+v", h.KDF, keyring.TestKDF)
	}
	tests := []struct {
		name       string
		passphrase string
		want       bool
	}{
		{"right", pass, true},
		{"wrong", "correct horse battery!", false},
		{"prefix", "correct horse", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, _ := h.Verify(tt.passphrase); got != tt.want {
				t.Errorf("Verify(%q): got %v, want %v", tt.passphrase, got, tt.want)
			}
		})
	}
	t.Run("salted", func(t *testing.T) {
		h2, err := keyring.HashPassphrase(pass, keyring.TestKDF)
		if err != nil {
			t.Fatalf("HashPassphrase: %v", err)
		}
		if bytes.Equal(h.Salt, h2.Salt) || bytes.Equal(h.Hash, h2.Hash) {
			t.Errorf("two hashes of one passphrase share salt or hash")
		}
	})
	t.Run("json round trip", func(t *testing.T) {
		b, err := json.Marshal(h)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		if bytes.Contains(b, []byte(pass)) {
			t.Errorf("stored verifier contains the passphrase: %s", b)
		}
		var back keyring.PassphraseHash
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("Unmarshal: %v", err)
		}
		if ok, _ := back.Verify(pass); !ok {
			t.Errorf("the decoded verifier refuses the right passphrase")
		}
	})
	t.Run("corrupt cost refused", func(t *testing.T) {
		bad := h
		bad.KDF = huge
		if ok, _ := bad.Verify(pass); ok {
			t.Errorf("Verify with %+v: got true, want false", huge)
		}
	})
	if _, err := keyring.HashPassphrase(pass, huge); err == nil {
		t.Errorf("HashPassphrase with %+v: got nil error, want one", huge)
	}
}

func TestWrapUnwrap(t *testing.T) {
	const role, pass = "unlock", "unlock passphrase"
	key := keyring.NewKey()
	w, err := keyring.Wrap(role, key, pass, keyring.TestKDF)
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	if bytes.Contains(w.Sealed, key) {
		t.Errorf("the wrapped slot contains the key")
	}
	got, err := w.Unwrap(role, pass)
	if err != nil {
		t.Fatalf("Unwrap: %v", err)
	}
	if !bytes.Equal(got, key) {
		t.Errorf("got a different key back")
	}

	tampered := w
	tampered.Sealed = bytes.Clone(w.Sealed)
	tampered.Sealed[len(tampered.Sealed)-1] ^= 1
	otherSalt := w
	otherSalt.Salt = bytes.Clone(w.Salt)
	otherSalt.Salt[0] ^= 1
	tests := []struct {
		name             string
		slot             keyring.WrappedKey
		role, passphrase string
	}{
		{"wrong passphrase", w, role, "unlock passphrasE"},
		{"empty passphrase", w, role, ""},
		{"other role", w, "backup", pass},
		{"tampered slot", tampered, role, pass},
		{"other salt", otherSalt, role, pass},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.slot.Unwrap(tt.role, tt.passphrase)
			if !errors.Is(err, keyring.ErrWrongPassphrase) {
				t.Errorf("got (%x, %v), want ErrWrongPassphrase", got, err)
			}
		})
	}
}

func TestWrapSurvivesJSON(t *testing.T) {
	key := keyring.NewKey()
	w, err := keyring.Wrap("backup", key, "backup passphrase", keyring.TestKDF)
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	b, err := json.Marshal(w)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	var back keyring.WrappedKey
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	got, err := back.Unwrap("backup", "backup passphrase")
	if err != nil || !bytes.Equal(got, key) {
		t.Errorf("got (%x, %v), want the wrapped key", got, err)
	}
}

// TestWrapCorruptCost checks that a slot whose stored cost is out of bounds
// is refused before Argon2id runs, and not mistaken for a wrong passphrase.
func TestWrapCorruptCost(t *testing.T) {
	if _, err := keyring.Wrap("unlock", keyring.NewKey(), "unlock passphrase", huge); err == nil {
		t.Errorf("Wrap with %+v: got nil error, want one", huge)
	}
	w, err := keyring.Wrap("unlock", keyring.NewKey(), "unlock passphrase", keyring.TestKDF)
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	w.KDF = huge
	_, err = w.Unwrap("unlock", "unlock passphrase")
	if err == nil || errors.Is(err, keyring.ErrWrongPassphrase) {
		t.Errorf("Unwrap with %+v: got %v, want a parameter error", huge, err)
	}
}

// BenchmarkArgon2idDefault measures the production passphrase cost on this
// machine (DefaultKDF documents about 0.2 s on one appliance core).
func BenchmarkArgon2idDefault(b *testing.B) {
	salt := []byte("0123456789abcdef")
	for b.Loop() {
		if _, err := keyring.Derive("benchmark passphrase", salt, keyring.DefaultKDF); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSeal measures sealing a typical stored record.
func BenchmarkSeal(b *testing.B) {
	s, err := keyring.NewSealer(keyring.NewKey())
	if err != nil {
		b.Fatal(err)
	}
	record := bytes.Repeat([]byte("r"), 512)
	b.SetBytes(int64(len(record)))
	for b.Loop() {
		s.Seal("/kw/v1/keys/_root/k", record)
	}
}
