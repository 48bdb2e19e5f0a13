// Package pkcs11 is the root of trust backed by a PKCS#11 token (an HSM, or
// SoftHSM2 for tests), built on package hsm. At first use it creates two keys
// inside the token, neither of which can ever leave it: an AES-256 wrapping
// key that seals secrets (CKM_AES_KEY_WRAP_PAD, or AES-GCM where the token
// lacks it) and a P-256 device identity key. A sealed blob names the device
// by a hash of the identity public key, so a blob from another token is
// refused as such. Further P-256 keys the appliance keeps in the token (its
// TLS key) come from Token.Signer; Destroy deletes them all.
package pkcs11

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/keywarden/keywarden/hsm"
	"github.com/keywarden/keywarden/rot"
)

// maxRandom bounds one Random call.
const maxRandom = 4096

// Config says which token to use.
type Config struct {
	Module     string       // path of the PKCS#11 library
	TokenLabel string       // the token's label; slot numbers are never used
	PINFile    string       // file holding the user PIN (mode 0600 or 0400)
	Logger     *slog.Logger // nil discards; the PIN is never logged
}

// Token is a PKCS#11 root of trust. It is safe for concurrent use.
type Token struct {
	label    string
	pinFile  string
	logger   *slog.Logger
	m        *hsm.Module
	identity *hsm.Signer
	deviceID [deviceIDSize]byte

	mu        sync.RWMutex // operations hold it shared; Close and Destroy exclusively
	closed    bool
	destroyed bool
}

var (
	_ rot.RootOfTrust = (*Token)(nil)
	_ rot.Describer   = (*Token)(nil)
	_ rot.Destroyer   = (*Token)(nil)
	_ rot.Random      = (*Token)(nil)
)

// Open reads the PIN file, opens the token and logs in, creating the wrapping
// and identity keys if the token has none yet. It returns an error wrapping
// rot.ErrAuth if the token refuses the PIN (never retried: callers must not
// loop on it either, or they lock the token) and rot.ErrUnavailable if the
// library or the token is missing.
func Open(ctx context.Context, cfg Config) (*Token, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	pin, err := readPIN(cfg.PINFile)
	if err != nil {
		return nil, err
	}
	m, err := hsm.Open(ctx, hsm.Config{Module: cfg.Module, TokenLabel: cfg.TokenLabel, PIN: pin, Logger: cfg.Logger})
	clear(pin)
	if err != nil {
		return nil, mapError("open token "+cfg.TokenLabel, cfg.PINFile, err)
	}
	t, err := setUp(ctx, m, cfg)
	if err != nil {
		m.Close()
		return nil, err
	}
	return t, nil
}

// setUp finds or creates the keys and derives the device id.
func setUp(ctx context.Context, m *hsm.Module, cfg Config) (*Token, error) {
	created, err := ensureWrapKey(ctx, m)
	if err != nil {
		return nil, mapError("wrapping key", cfg.PINFile, err)
	}
	identity, createdID, err := getOrCreate(ctx, m, IdentityKeyLabel)
	if err != nil {
		return nil, mapError("identity key", cfg.PINFile, err)
	}
	der, err := x509.MarshalPKIXPublicKey(identity.Public())
	if err != nil {
		return nil, fmt.Errorf("pkcs11 root of trust: marshal identity public key: %w", err)
	}
	cfg.Logger.Info("pkcs11 root of trust opened", "token", cfg.TokenLabel,
		"wrap_mechanism", m.WrapMechanism().String(), "created_wrap_key", created, "created_identity_key", createdID)
	return &Token{label: cfg.TokenLabel, pinFile: cfg.PINFile, logger: cfg.Logger, m: m, identity: identity, deviceID: sha256.Sum256(der)}, nil
}

// mapError turns hsm errors into the rot sentinels the appliance reports.
func mapError(what, pinFile string, err error) error {
	switch {
	case errors.Is(err, hsm.ErrPIN):
		return fmt.Errorf("pkcs11 root of trust: %s: the token refused the PIN from %s (not retried; fix the PIN file and restart): %w: %w",
			what, pinFile, rot.ErrAuth, err)
	case errors.Is(err, hsm.ErrModule), errors.Is(err, hsm.ErrTokenNotFound), errors.Is(err, hsm.ErrNoCgo):
		return fmt.Errorf("pkcs11 root of trust: %s: %w: %w", what, rot.ErrUnavailable, err)
	case errors.Is(err, hsm.ErrClosed):
		return fmt.Errorf("pkcs11 root of trust: %s: %w", what, rot.ErrClosed)
	}
	return fmt.Errorf("pkcs11 root of trust: %s: %w", what, err)
}

// use runs f unless the token is closed.
func (t *Token) use(what string, f func() error) error {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.closed {
		return fmt.Errorf("pkcs11 %s: %w", what, rot.ErrClosed)
	}
	return f()
}

// Seal wraps secret (at most rot.MaxSecretSize bytes) with the token's
// wrapping key. The blob is header || wrapped, the header (magic, version,
// device id) bound to the wrapped secret as associated data.
func (t *Token) Seal(ctx context.Context, secret []byte) ([]byte, error) {
	if len(secret) > rot.MaxSecretSize {
		return nil, fmt.Errorf("pkcs11 seal: secret is %d bytes, want at most %d", len(secret), rot.MaxSecretSize)
	}
	var blob []byte
	err := t.use("seal", func() error {
		ad := associatedData(t.deviceID)
		wrapped, err := t.m.Wrap(ctx, WrapKeyLabel, secret, ad)
		if err != nil {
			return mapError("seal", t.pinFile, err)
		}
		blob = frame(ad, wrapped)
		return nil
	})
	return blob, err
}

// Unseal recovers a secret sealed by Seal with this token. It returns an
// error wrapping rot.ErrMalformed for blobs that are not whole sealed blobs
// or fail the token's integrity check, rot.ErrWrongDevice for blobs sealed
// by another token (or by this token before a Destroy), rot.ErrAuth if the
// token refused the PIN, and rot.ErrUnavailable if the token went away.
func (t *Token) Unseal(ctx context.Context, blob []byte) ([]byte, error) {
	var secret []byte
	err := t.use("unseal", func() error {
		ad, wrapped, err := parse(blob, t.deviceID)
		if err != nil {
			return err
		}
		secret, err = t.m.Unwrap(ctx, WrapKeyLabel, wrapped, ad)
		if errors.Is(err, hsm.ErrIntegrity) {
			return fmt.Errorf("pkcs11 unseal: damaged or tampered blob: %w: %w", rot.ErrMalformed, err)
		}
		if errors.Is(err, hsm.ErrNotFound) {
			return fmt.Errorf("pkcs11 unseal: wrapping key %q missing from token %q: %w: %w",
				WrapKeyLabel, t.label, rot.ErrUnavailable, err)
		}
		if err != nil {
			return mapError("unseal", t.pinFile, err)
		}
		return nil
	})
	return secret, err
}

// Identity returns the device identity key, which signs inside the token.
// The Signer stops working when the Token is closed.
func (t *Token) Identity(ctx context.Context) (crypto.Signer, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("pkcs11 identity: %w", err)
	}
	var s crypto.Signer
	err := t.use("identity", func() error { s = t.identity; return nil })
	return s, err
}

// Random returns n bytes (at most 4096) from the token's random generator.
func (t *Token) Random(ctx context.Context, n int) ([]byte, error) {
	if n < 0 || n > maxRandom {
		return nil, fmt.Errorf("pkcs11 random: %d bytes requested, want 0 to %d", n, maxRandom)
	}
	var out []byte
	err := t.use("random", func() error {
		var err error
		if out, err = t.m.Random(ctx, n); err != nil {
			return mapError("random", t.pinFile, err)
		}
		return nil
	})
	return out, err
}

// Describe names the backend and the token.
func (t *Token) Describe() rot.Description {
	return rot.Description{Kind: "pkcs11", Detail: t.label}
}

// Close logs out and releases the token (see hsm.Module.Close). It is
// idempotent; afterwards every method returns an error wrapping rot.ErrClosed.
func (t *Token) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	return t.m.Close()
}

// Destroy deletes every object labelled with KeyLabelPrefix (the wrapping and
// identity keys and the keys made by Signer) and closes the token (factory
// reset): every blob it sealed becomes unrecoverable, and the next Open
// creates a new identity. Repeating Destroy is not an error;
// Destroy after a plain Close returns rot.ErrClosed, having no session to
// delete with.
func (t *Token) Destroy(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.destroyed {
		return nil
	}
	if t.closed {
		return fmt.Errorf("pkcs11 destroy: %w", rot.ErrClosed)
	}
	if err := t.destroyKeys(ctx); err != nil {
		return err
	}
	t.destroyed, t.closed = true, true
	t.logger.Info("pkcs11 root of trust destroyed", "token", t.label)
	return t.m.Close()
}
