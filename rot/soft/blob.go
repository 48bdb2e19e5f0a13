package soft

import (
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"fmt"

	"github.com/keywarden/keywarden/rot"
)

// MaxSecretSize is the largest secret Seal accepts: rot.MaxSecretSize, so
// this backend is no more permissive than hardware.
const MaxSecretSize = rot.MaxSecretSize

// Blob layout: magic | version | device id | nonce | ciphertext+tag.
const (
	blobVersion  = 1
	deviceIDSize = 32
	nonceSize    = 12
	tagSize      = 16
	headerSize   = len(blobMagic) + 1 + deviceIDSize
	minBlobSize  = headerSize + nonceSize + tagSize
)

const blobMagic = "KWSB" // Keywarden Soft Blob

// seal builds a blob for secret; the header is the AEAD's associated data so
// that neither the version nor the device id can be altered unnoticed.
func seal(aead cipher.AEAD, id [deviceIDSize]byte, secret []byte) ([]byte, error) {
	blob := make([]byte, headerSize+nonceSize, minBlobSize+len(secret))
	copy(blob, blobMagic)
	blob[len(blobMagic)] = blobVersion
	copy(blob[len(blobMagic)+1:], id[:])
	nonce := blob[headerSize:]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("soft seal: nonce: %w", err)
	}
	return aead.Seal(blob, nonce, secret, blob[:headerSize]), nil
}

// unseal checks the blob's shape, then its device, then its authenticity, in
// that order: a short blob is malformed even if its header names another device.
func unseal(aead cipher.AEAD, id [deviceIDSize]byte, blob []byte) ([]byte, error) {
	if len(blob) < minBlobSize || string(blob[:len(blobMagic)]) != blobMagic {
		return nil, fmt.Errorf("soft unseal: not a soft root of trust blob: %w", rot.ErrMalformed)
	}
	if v := blob[len(blobMagic)]; v != blobVersion {
		return nil, fmt.Errorf("soft unseal: blob version %d, want %d: %w", v, blobVersion, rot.ErrMalformed)
	}
	if subtle.ConstantTimeCompare(blob[len(blobMagic)+1:headerSize], id[:]) != 1 {
		return nil, fmt.Errorf("soft unseal: %w", rot.ErrWrongDevice)
	}
	nonce, ciphertext := blob[headerSize:headerSize+nonceSize], blob[headerSize+nonceSize:]
	secret, err := aead.Open(nil, nonce, ciphertext, blob[:headerSize])
	if err != nil {
		return nil, fmt.Errorf("soft unseal: authentication failed (damaged or tampered blob): %w", rot.ErrMalformed)
	}
	if secret == nil {
		secret = []byte{}
	}
	return secret, nil
}
