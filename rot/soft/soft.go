// Package soft is the development-only root of trust: its sealing key and
// identity key live in one 0600 file, so it offers no hardware protection at
// all. It lets the appliance run on machines without a TPM or PKCS#11 token
// (laptops, CI) and must never be chosen for a production appliance; it says
// so through Describe and a warning when opened.
package soft

import (
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/keywarden/keywarden/rot"
)

// Soft is a file-backed root of trust. It is safe for concurrent use.
type Soft struct {
	path   string
	logger *slog.Logger

	mu       sync.RWMutex // guards everything below; Close takes it exclusively
	closed   bool
	aead     cipher.AEAD
	sealKey  []byte // kept only to be wiped on Close
	identity *ecdsa.PrivateKey
	deviceID [deviceIDSize]byte
}

var (
	_ rot.RootOfTrust = (*Soft)(nil)
	_ rot.Describer   = (*Soft)(nil)
	_ rot.Destroyer   = (*Soft)(nil)
)

// Open opens the key file at path, creating it (mode 0600, fresh random keys)
// if it does not exist. It returns an error wrapping ErrInsecureFile if the
// file is accessible by group or others. A nil logger discards log output.
func Open(path string, logger *slog.Logger) (*Soft, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	k, created, err := loadOrCreate(path)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k.sealKey)
	if err != nil {
		return nil, fmt.Errorf("soft root of trust: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("soft root of trust: %w", err)
	}
	id, err := deviceID(k.identity)
	if err != nil {
		return nil, err
	}
	logger.Warn("using the development-only soft root of trust: keys are not hardware protected",
		"path", path, "created", created)
	return &Soft{path: path, logger: logger, aead: aead, sealKey: k.sealKey, identity: k.identity, deviceID: id}, nil
}

// deviceID names a device by the SHA-256 of its identity public key, so a blob
// can say which device sealed it without revealing anything secret.
func deviceID(key *ecdsa.PrivateKey) ([deviceIDSize]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return [deviceIDSize]byte{}, fmt.Errorf("soft root of trust: marshal identity public key: %w", err)
	}
	return sha256.Sum256(der), nil
}

// Seal encrypts secret with the device's sealing key. The blob is
// header || nonce || AES-256-GCM ciphertext, the header (magic, version,
// device id) being authenticated as associated data. Secrets larger than
// MaxSecretSize are refused so that code developed against this backend also
// works with a TPM.
func (s *Soft) Seal(ctx context.Context, secret []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("soft seal: %w", err)
	}
	if len(secret) > MaxSecretSize {
		return nil, fmt.Errorf("soft seal: secret is %d bytes, want at most %d", len(secret), MaxSecretSize)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, fmt.Errorf("soft seal: %w", rot.ErrClosed)
	}
	return seal(s.aead, s.deviceID, secret)
}

// Unseal recovers a secret sealed by Seal with the same key file. It returns
// an error wrapping rot.ErrMalformed if blob is too short, has the wrong magic
// or version, or fails authentication (tampering), and rot.ErrWrongDevice if
// it was sealed by another device.
func (s *Soft) Unseal(ctx context.Context, blob []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("soft unseal: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, fmt.Errorf("soft unseal: %w", rot.ErrClosed)
	}
	return unseal(s.aead, s.deviceID, blob)
}

// Identity returns the device's P-256 identity key. Unlike hardware backends,
// the private key is in process memory.
func (s *Soft) Identity(ctx context.Context) (crypto.Signer, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("soft identity: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, fmt.Errorf("soft identity: %w", rot.ErrClosed)
	}
	return s.identity, nil
}

// Describe reports the backend as development-only.
func (s *Soft) Describe() rot.Description {
	return rot.Description{Kind: "soft", DevelopmentOnly: true, Detail: s.path}
}

// Close wipes the sealing key from memory. It is idempotent; afterwards every
// method returns an error wrapping rot.ErrClosed.
func (s *Soft) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	clear(s.sealKey)
	s.aead, s.identity = nil, nil
	return nil
}

// Destroy closes the root of trust and removes its key file, making every
// blob it sealed unrecoverable (factory reset). A file that is already gone
// is not an error.
func (s *Soft) Destroy(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("soft destroy: %w", err)
	}
	if err := s.Close(); err != nil {
		return err
	}
	if err := os.Remove(s.path); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("soft destroy: %w", err)
	}
	s.logger.Info("soft root of trust destroyed", "path", s.path)
	return nil
}
