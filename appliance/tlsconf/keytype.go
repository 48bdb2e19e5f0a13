package tlsconf

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
)

// KeyType is the kind of TLS key, with the values of the REST API's
// TlsKeyType enumeration.
type KeyType string

// Key types of the REST API. Curve25519 means an Ed25519 key. The Brainpool
// types are part of the API but Go's TLS stack does not implement them, so
// Generate refuses them with ErrUnsupported.
const (
	RSA           KeyType = "RSA"
	Curve25519    KeyType = "Curve25519"
	EC_P256       KeyType = "EC_P256"
	EC_P384       KeyType = "EC_P384"
	EC_P521       KeyType = "EC_P521"
	BrainpoolP256 KeyType = "BrainpoolP256"
	BrainpoolP384 KeyType = "BrainpoolP384"
	BrainpoolP512 KeyType = "BrainpoolP512"
)

// RSA key sizes Generate accepts. The API allows smaller lengths, but Go
// refuses RSA keys under 1024 bits and anything under 2048 is too weak to
// protect the appliance's HTTPS identity.
const (
	DefaultRSABits = 2048
	MinRSABits     = 2048
	MaxRSABits     = 8192
)

var (
	// ErrUnsupported means a key type that is valid in the API but not
	// implemented (Brainpool curves), or not a key type at all.
	ErrUnsupported = errors.New("tlsconf: unsupported key type")
	// ErrInvalid means a parameter is out of range: an RSA length, a host
	// name, a distinguished name field.
	ErrInvalid = errors.New("tlsconf: invalid parameter")
	// ErrMalformed means PEM or DER input could not be parsed.
	ErrMalformed = errors.New("tlsconf: malformed input")
	// ErrKeyMismatch means a certificate does not belong to the TLS key.
	ErrKeyMismatch = errors.New("tlsconf: certificate does not match the tls key")
)

// newKey generates a private key of type t. bits applies to RSA only (0
// selects DefaultRSABits); the curve types have fixed sizes.
func newKey(t KeyType, bits int) (crypto.Signer, error) {
	switch t {
	case RSA:
		return newRSAKey(bits)
	case Curve25519:
		_, key, err := ed25519.GenerateKey(rand.Reader)
		return key, wrapGenerate(err)
	case EC_P256:
		return newECKey(elliptic.P256())
	case EC_P384:
		return newECKey(elliptic.P384())
	case EC_P521:
		return newECKey(elliptic.P521())
	case BrainpoolP256, BrainpoolP384, BrainpoolP512:
		return nil, fmt.Errorf("%w: %s (Go's TLS implementation has no Brainpool curves)", ErrUnsupported, t)
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnsupported, t)
	}
}

func newRSAKey(bits int) (crypto.Signer, error) {
	if bits == 0 {
		bits = DefaultRSABits
	}
	if bits < MinRSABits || bits > MaxRSABits {
		return nil, fmt.Errorf("%w: rsa length %d, want %d to %d", ErrInvalid, bits, MinRSABits, MaxRSABits)
	}
	key, err := rsa.GenerateKey(rand.Reader, bits)
	return key, wrapGenerate(err)
}

func newECKey(curve elliptic.Curve) (crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(curve, rand.Reader)
	return key, wrapGenerate(err)
}

func wrapGenerate(err error) error {
	if err != nil {
		return fmt.Errorf("tlsconf: generate key: %w", err)
	}
	return nil
}

// checkSigner accepts only the key types Generate produces, so that a stored
// identity cannot smuggle in a key the TLS stack would choke on.
func checkSigner(key any) (crypto.Signer, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	default:
		return nil, fmt.Errorf("%w: private key of type %T", ErrUnsupported, key)
	}
}
