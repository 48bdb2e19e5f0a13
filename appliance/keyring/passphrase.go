package keyring

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/argon2"
)

// KDFParams are the Argon2id cost parameters. They are stored next to every
// derived value so they can be raised later without breaking old records.
type KDFParams struct {
	Time      uint32 `json:"t"`
	MemoryKiB uint32 `json:"m"`
	Threads   uint8  `json:"p"`
}

// DefaultKDF is the production cost: 64 MiB and 3 passes, about 0.2 s on one
// appliance core. RFC 9106's second recommended option, with more passes.
var DefaultKDF = KDFParams{Time: 3, MemoryKiB: 64 * 1024, Threads: 2}

// TestKDF is a deliberately weak cost for tests only; the daemon enables it only
// through an explicit, loudly logged test flag.
var TestKDF = KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

// ErrWrongPassphrase means a passphrase did not match.
var ErrWrongPassphrase = errors.New("keyring: wrong passphrase")

// Validate reports whether the parameters are within the bounds this code
// accepts from storage: at most 256 MiB and 8 passes, so a corrupt or hostile
// record cannot exhaust an appliance (two verifications may run at once).
func (p KDFParams) Validate() error {
	if p.Time < 1 || p.Time > 8 || p.MemoryKiB < 8 || p.MemoryKiB > 256<<10 || p.Threads < 1 || p.Threads > 16 {
		return fmt.Errorf("keyring: argon2id parameters out of bounds: %+v", p)
	}
	return nil
}

// ErrBusy means too many passphrase derivations are already running; the
// caller should answer "retry later" rather than queue without bound.
var ErrBusy = errors.New("keyring: too many passphrase checks in progress; retry later")

// argonSlots bounds Argon2id runs process-wide, whoever asks for them (logins,
// unlock, passphrase changes): each run holds MemoryKiB of memory, so an
// unbounded number of concurrent requests could exhaust the appliance.
var argonSlots = make(chan struct{}, 2)

// argonWait is how long a derivation waits for a slot before ErrBusy.
const argonWait = 5 * time.Second

// Derive returns the Argon2id key of passphrase with salt. It waits for one
// of a few process-wide slots and returns ErrBusy when none frees up in time.
func Derive(passphrase string, salt []byte, p KDFParams) ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	timer := time.NewTimer(argonWait)
	defer timer.Stop()
	select {
	case argonSlots <- struct{}{}:
	case <-timer.C:
		return nil, ErrBusy
	}
	defer func() { <-argonSlots }()
	return argon2.IDKey([]byte(passphrase), salt, p.Time, p.MemoryKiB, p.Threads, KeySize), nil
}

// PassphraseHash is a stored Argon2id verifier of a user passphrase.
type PassphraseHash struct {
	KDF  KDFParams `json:"kdf"`
	Salt []byte    `json:"salt"`
	Hash []byte    `json:"hash"`
}

// HashPassphrase returns a fresh verifier for passphrase.
func HashPassphrase(passphrase string, p KDFParams) (PassphraseHash, error) {
	salt := newSalt()
	h, err := Derive(passphrase, salt, p)
	if err != nil {
		return PassphraseHash{}, err
	}
	return PassphraseHash{KDF: p, Salt: salt, Hash: h}, nil
}

// Verify reports, in constant time, whether passphrase matches the verifier.
// An error (ErrBusy, bad stored parameters) means it could not tell.
func (h PassphraseHash) Verify(passphrase string) (bool, error) {
	got, err := Derive(passphrase, h.Salt, h.KDF)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, h.Hash) == 1, nil
}

// WrappedKey is a key encrypted under a passphrase-derived key. It is what the
// store keeps for the domain key's unlock slot.
type WrappedKey struct {
	KDF    KDFParams `json:"kdf"`
	Salt   []byte    `json:"salt"`
	Sealed []byte    `json:"sealed"`
}

// wrapPath binds a wrapped key to its role, so an unlock slot cannot be passed
// off as another kind of slot.
func wrapPath(role string) string { return "keyring/wrapped/" + role }

// Wrap encrypts key under Argon2id(passphrase) for the given role.
func Wrap(role string, key []byte, passphrase string, p KDFParams) (WrappedKey, error) {
	salt := newSalt()
	kek, err := Derive(passphrase, salt, p)
	if err != nil {
		return WrappedKey{}, err
	}
	s, err := NewSealer(kek)
	if err != nil {
		return WrappedKey{}, err
	}
	return WrappedKey{KDF: p, Salt: salt, Sealed: s.Seal(wrapPath(role), key)}, nil
}

// Unwrap recovers the key. It returns ErrWrongPassphrase when the passphrase
// does not open the slot.
func (w WrappedKey) Unwrap(role, passphrase string) ([]byte, error) {
	kek, err := Derive(passphrase, w.Salt, w.KDF)
	if err != nil {
		return nil, err
	}
	s, err := NewSealer(kek)
	if err != nil {
		return nil, err
	}
	key, err := s.Open(wrapPath(role), w.Sealed)
	if err != nil {
		return nil, ErrWrongPassphrase
	}
	return key, nil
}

func newSalt() []byte {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		panic("keyring: system random source failed: " + err.Error())
	}
	return salt
}
