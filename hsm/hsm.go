package hsm

import (
	"errors"
	"fmt"
	"log/slog"
)

// DefaultMaxSessions is the session limit when Config.MaxSessions is zero:
// enough for concurrent TLS handshakes on a small appliance, few enough for
// tokens that allow only a handful of sessions.
const DefaultMaxSessions = 8

// MaxWrapSize is the largest secret Wrap accepts. Wrapped secrets are key
// material, not bulk data; some tokens refuse larger secret-key objects.
const MaxWrapSize = 1024

// maxLabel is the size of a token label field (CK_TOKEN_INFO.label).
const maxLabel = 32

// Errors returned by this package; match them with errors.Is.
var (
	// ErrModule means the PKCS#11 library could not be loaded or initialised.
	ErrModule = errors.New("hsm: PKCS#11 module unavailable")
	// ErrTokenNotFound means no initialised token carries the configured label.
	ErrTokenNotFound = errors.New("hsm: token not found")
	// ErrPIN means the token refused the PIN (incorrect, locked, expired or
	// not initialised). It is never retried automatically.
	ErrPIN = errors.New("hsm: PIN refused")
	// ErrNotFound means no object with the requested label is in the token.
	ErrNotFound = errors.New("hsm: object not found")
	// ErrExists means an object with the label to create is already there.
	ErrExists = errors.New("hsm: object already exists")
	// ErrIntegrity means wrapped data is malformed, was damaged, was bound
	// to other associated data, or was wrapped by a different key.
	ErrIntegrity = errors.New("hsm: wrapped data malformed or failed its integrity check")
	// ErrClosed means the Module was used after Close.
	ErrClosed = errors.New("hsm: module closed")
	// ErrNoCgo means this binary was built without cgo, so it cannot load a
	// PKCS#11 library at all.
	ErrNoCgo = errors.New("hsm: built without cgo: PKCS#11 unavailable")
)

// Config says which token Open uses and how.
type Config struct {
	// Module is the path of the PKCS#11 library, e.g.
	// /usr/lib/softhsm/libsofthsm2.so.
	Module string
	// TokenLabel names the token. Tokens are found by label because slot IDs
	// change when tokens are added, removed or re-inserted.
	TokenLabel string
	// PIN is the user PIN. Open copies it, so the caller may wipe its copy.
	PIN []byte
	// Logger receives operational events; nil discards them. PINs and
	// secrets are never logged.
	Logger *slog.Logger
	// MaxSessions bounds the sessions the Module opens; 0 means
	// DefaultMaxSessions. Operations wait for a free session.
	MaxSessions int
}

// validate reports every problem with c at once.
func (c Config) validate() error {
	var errs []error
	if c.Module == "" {
		errs = append(errs, errors.New("module path is empty"))
	}
	if c.TokenLabel == "" || len(c.TokenLabel) > maxLabel {
		errs = append(errs, fmt.Errorf("token label %q: want 1 to %d bytes", c.TokenLabel, maxLabel))
	}
	if len(c.PIN) == 0 {
		errs = append(errs, errors.New("PIN is empty"))
	}
	if c.MaxSessions < 0 {
		errs = append(errs, fmt.Errorf("max sessions %d is negative", c.MaxSessions))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("hsm config: %w", err)
	}
	return nil
}

// Class is the kind of a token object.
type Class string

// Object classes reported by Find.
const (
	ClassSecretKey  Class = "secret-key"
	ClassPrivateKey Class = "private-key"
	ClassPublicKey  Class = "public-key"
	ClassOther      Class = "other"
)

// Object describes a token object found by label. Sensitive and Extractable
// are reported for secret and private keys only.
type Object struct {
	Label       string
	ID          []byte
	Class       Class
	Token       bool // persistent (CKA_TOKEN), not a session object
	Sensitive   bool // CKA_SENSITIVE: the value is never revealed in plaintext
	Extractable bool // CKA_EXTRACTABLE: the value can be wrapped out of the token
}
