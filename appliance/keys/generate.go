package keys

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	cryptorand "crypto/rand"
	"crypto/rsa"
	"fmt"
	"io"
)

// Generate creates a new key of type t with the given mechanisms.
//
// lengthBits is required for RSA (1024..8192, a multiple of 8) and Generic
// (128, 192 or 256) and ignored for the curve types. rand supplies the
// Curve25519 seed and the AES key; nil means crypto/rand. Since Go 1.26 the
// RSA and ECDSA generators of the standard library ignore a caller's reader
// and always use the system's secure source.
//
// Errors wrap ErrInvalid (unknown type or mechanism, bad length, mechanism not
// valid for the type) or ErrUnsupported (a known but unsupported type).
func Generate(rand io.Reader, t Type, lengthBits int, mechs []Mechanism) (*Key, error) {
	if rand == nil {
		rand = cryptorand.Reader
	}
	if err := t.checkSupported(); err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	if _, err := checkMechanisms(t, mechs); err != nil {
		return nil, fmt.Errorf("generate %s: %w", t, err)
	}
	k, err := generate(rand, t, lengthBits, mechs)
	if err != nil {
		return nil, fmt.Errorf("generate %s: %w", t, err)
	}
	return k, nil
}

func generate(rand io.Reader, t Type, lengthBits int, mechs []Mechanism) (*Key, error) {
	switch t {
	case TypeRSA:
		if err := checkRSAGenerateBits(lengthBits); err != nil {
			return nil, err
		}
		priv, err := rsa.GenerateKey(rand, lengthBits)
		if err != nil {
			return nil, err
		}
		return newAsymmetric(priv, mechs)
	case TypeGeneric:
		if lengthBits == 0 {
			return nil, invalidf("length is required for Generic keys")
		}
		if lengthBits != 128 && lengthBits != 192 && lengthBits != 256 {
			return nil, invalidf("length %d bits is not an AES key length, want 128, 192 or 256", lengthBits)
		}
		secret, err := readRandom(rand, lengthBits/8)
		if err != nil {
			return nil, err
		}
		return newGeneric(secret, mechs)
	case TypeCurve25519:
		seed, err := readRandom(rand, ed25519.SeedSize)
		if err != nil {
			return nil, err
		}
		return newAsymmetric(ed25519.NewKeyFromSeed(seed), mechs)
	default:
		priv, err := ecdsa.GenerateKey(typeCurve(t), rand)
		if err != nil {
			return nil, err
		}
		return newAsymmetric(priv, mechs)
	}
}

// checkRSAGenerateBits checks a requested RSA length: in range and whole bytes.
func checkRSAGenerateBits(bits int) error {
	if bits == 0 {
		return invalidf("length is required for RSA keys")
	}
	if err := checkRSABits(bits); err != nil {
		return err
	}
	if bits%8 != 0 {
		return invalidf("RSA key length %d bits is not a multiple of 8", bits)
	}
	return nil
}

// readRandom reads n bytes from rand.
func readRandom(rand io.Reader, n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(rand, b); err != nil {
		return nil, fmt.Errorf("read random: %w", err)
	}
	return b, nil
}
