package hsm

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
)

// WrapMechanism names how Wrap protected a secret. It is the first byte of
// every wrapped blob, so Unwrap knows which mechanism to use even if the
// token's preferred mechanism changes.
type WrapMechanism byte

// Wrap mechanisms, in order of preference.
const (
	// AESKeyWrapPad is CKM_AES_KEY_WRAP_PAD (RFC 5649), used through
	// C_WrapKey/C_UnwrapKey so the wrapping key needs only CKA_WRAP/CKA_UNWRAP.
	AESKeyWrapPad WrapMechanism = 1
	// AESGCM is CKM_AES_GCM with a 96-bit IV and a 128-bit tag, used through
	// C_Encrypt/C_Decrypt when the token lacks CKM_AES_KEY_WRAP_PAD.
	AESGCM WrapMechanism = 2
)

// String returns the PKCS#11 mechanism name.
func (w WrapMechanism) String() string {
	switch w {
	case AESKeyWrapPad:
		return "CKM_AES_KEY_WRAP_PAD"
	case AESGCM:
		return "CKM_AES_GCM"
	}
	return fmt.Sprintf("WrapMechanism(%d)", byte(w))
}

// Wrapped blob layout, after the mechanism byte:
//
//	AESKeyWrapPad: RFC 5649 output of the payload below (a multiple of 8 bytes)
//	AESGCM:        IV (12) | ciphertext | tag (16), the associated data being
//	               mechanism byte | aad
//
// Key wrap is deterministic and has no associated data, so the payload
// starts with a random nonce (wrapping one secret twice gives unrelated
// blobs) and carries a digest of the associated data. It also carries the
// secret's length, because some tokens (SoftHSM2 among them) return the RFC
// 5649 padding with the unwrapped value:
//
//	nonce (16) | SHA-256(mechanism byte | aad) (32) | length (2, big endian) | secret | zero padding
const (
	gcmIVSize    = 12
	gcmTagSize   = 16
	kwBlock      = 8
	kwpNonceSize = 16
	adDigestSize = sha256.Size
	lenSize      = 2
	kwpOverhead  = kwpNonceSize + adDigestSize + lenSize
	minKWPWrap   = kwBlock + (kwpOverhead+kwBlock-1)/kwBlock*kwBlock // AIV block + padded payload
)

// CheckWrapped reports whether b has the shape of a blob made by Wrap (known
// mechanism, plausible length) without using the token. It returns an error
// wrapping ErrIntegrity if not. Callers that add their own header can use it
// to tell a truncated blob from one sealed elsewhere.
func CheckWrapped(b []byte) error {
	if len(b) == 0 {
		return fmt.Errorf("%w: empty", ErrIntegrity)
	}
	n := len(b) - 1
	switch WrapMechanism(b[0]) {
	case AESKeyWrapPad:
		if n < minKWPWrap || n%kwBlock != 0 || n > minKWPWrap+MaxWrapSize {
			return fmt.Errorf("%w: %d bytes of key wrap output, want a multiple of %d from %d to %d",
				ErrIntegrity, n, kwBlock, minKWPWrap, minKWPWrap+MaxWrapSize)
		}
	case AESGCM:
		if n < gcmIVSize+gcmTagSize || n > gcmIVSize+gcmTagSize+MaxWrapSize {
			return fmt.Errorf("%w: %d bytes of AES-GCM output, want %d to %d",
				ErrIntegrity, n, gcmIVSize+gcmTagSize, gcmIVSize+gcmTagSize+MaxWrapSize)
		}
	default:
		return fmt.Errorf("%w: unknown wrap mechanism %d", ErrIntegrity, b[0])
	}
	return nil
}

// boundAD is the associated data a wrapped blob is bound to: its own
// mechanism byte, so the byte cannot be switched, and the caller's aad.
func boundAD(mech WrapMechanism, aad []byte) []byte {
	return append([]byte{byte(mech)}, aad...)
}

// kwpPayload builds the plaintext that key wrap protects.
func kwpPayload(secret, aad []byte) ([]byte, error) {
	digest := sha256.Sum256(boundAD(AESKeyWrapPad, aad))
	p := make([]byte, kwpNonceSize, kwpOverhead+len(secret))
	if _, err := rand.Read(p); err != nil {
		return nil, err
	}
	p = append(p, digest[:]...)
	p = binary.BigEndian.AppendUint16(p, uint16(len(secret)))
	return append(p, secret...), nil
}

// openKWPPayload checks an unwrapped payload against aad and returns the
// secret it holds.
func openKWPPayload(p, aad []byte) ([]byte, error) {
	if len(p) < kwpOverhead {
		return nil, fmt.Errorf("%w: unwrapped payload too short", ErrIntegrity)
	}
	digest := sha256.Sum256(boundAD(AESKeyWrapPad, aad))
	if subtle.ConstantTimeCompare(p[kwpNonceSize:kwpNonceSize+adDigestSize], digest[:]) != 1 {
		return nil, fmt.Errorf("%w: associated data does not match", ErrIntegrity)
	}
	n := int(binary.BigEndian.Uint16(p[kwpNonceSize+adDigestSize:]))
	rest := p[kwpOverhead:]
	if n > len(rest) || len(rest)-n >= kwBlock || !allZero(rest[n:]) {
		return nil, fmt.Errorf("%w: bad length or padding in unwrapped payload", ErrIntegrity)
	}
	return append([]byte{}, rest[:n]...), nil
}

func allZero(b []byte) bool {
	var acc byte
	for _, c := range b {
		acc |= c
	}
	return acc == 0
}
