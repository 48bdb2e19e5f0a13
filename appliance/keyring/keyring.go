// Package keyring implements Keywarden's key hierarchy: Argon2id keys derived from
// passphrases, HKDF sub-keys per purpose, and the AES-256-GCM sealing of every
// stored value with its store path as associated data.
//
// The hierarchy, from the bottom up:
//
//	device key  (32 bytes, per node, sealed by the root of trust)
//	  └─ HKDF "local-store"  seals node-local values (TLS identity, time offset)
//	domain key  (32 bytes, per cluster, created at provisioning)
//	  ├─ wrapped by the unlock key = Argon2id(unlock passphrase, salt)
//	  ├─ optionally sealed by the root of trust (unattended boot)
//	  └─ HKDF "store"        seals clustered values (keys, users, namespaces)
//	backup key  = Argon2id(backup passphrase, salt)
package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// KeySize is the size in bytes of every symmetric key in the hierarchy.
const KeySize = 32

// Purposes of HKDF sub-keys. Each purpose yields an independent key, so a
// compromise of one use cannot be replayed in another.
const (
	PurposeStore      = "store"       // clustered values, from the domain key
	PurposeLocalStore = "local-store" // node-local values, from the device key
	PurposeAuthCache  = "auth-cache"  // MAC key of the verified-credential cache
	PurposeJoinerKit  = "joiner-kit"  // joiner kits, from the backup key
	PurposeLocalFiles = "local-files" // node-local files read before the store runs, from the device key
)

// ErrOpen means a sealed value failed authentication: it was tampered with, moved
// to another path, or sealed under another key.
var ErrOpen = errors.New("keyring: sealed value failed authentication")

// NewKey returns KeySize fresh random bytes.
func NewKey() []byte {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		panic("keyring: system random source failed: " + err.Error())
	}
	return k
}

// Subkey derives the sub-key for purpose from master with HKDF-SHA256.
func Subkey(master []byte, purpose string) ([]byte, error) {
	if len(master) != KeySize {
		return nil, fmt.Errorf("keyring: derive %q: master key is %d bytes, want %d", purpose, len(master), KeySize)
	}
	return hkdf.Key(sha256.New, master, nil, "keywarden/v1/"+purpose, KeySize)
}

// sealVersion prefixes every sealed value so the format can evolve.
const sealVersion byte = 1

// Sealer encrypts values with AES-256-GCM under one key, binding each value to
// the store path it is written to. It is safe for concurrent use.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer returns a Sealer for a KeySize-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("keyring: new sealer: key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("keyring: new sealer: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("keyring: new sealer: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// NewSubSealer derives the purpose sub-key of master and returns its Sealer.
func NewSubSealer(master []byte, purpose string) (*Sealer, error) {
	sub, err := Subkey(master, purpose)
	if err != nil {
		return nil, err
	}
	return NewSealer(sub)
}

// Seal encrypts plaintext for path: version || nonce || ciphertext+tag, with
// version and path as associated data.
func (s *Sealer) Seal(path string, plaintext []byte) []byte {
	ns := s.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plaintext)+s.aead.Overhead())
	out[0] = sealVersion
	if _, err := rand.Read(out[1 : 1+ns]); err != nil {
		panic("keyring: system random source failed: " + err.Error())
	}
	return s.aead.Seal(out, out[1:1+ns], plaintext, associated(path))
}

// Open authenticates and decrypts a value sealed for path. It returns an error
// wrapping ErrOpen if the value was not sealed by this key for this path.
func (s *Sealer) Open(path string, sealed []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < 1+ns+s.aead.Overhead() || sealed[0] != sealVersion {
		return nil, fmt.Errorf("open %q: %w", path, ErrOpen)
	}
	pt, err := s.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], associated(path))
	if err != nil {
		return nil, fmt.Errorf("open %q: %w", path, ErrOpen)
	}
	return pt, nil
}

func associated(path string) []byte {
	return append([]byte{sealVersion}, path...)
}
