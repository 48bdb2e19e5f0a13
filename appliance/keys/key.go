package keys

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"fmt"
	"io"
	"log/slog"
	"slices"
)

// RSA modulus sizes accepted for generation and import.
const (
	minRSABits = 1024
	maxRSABits = 8192
)

// Key is one application key: its type, the mechanisms it may be used with
// and its private material. The zero Key has no mechanisms, so every
// operation on it fails with ErrNotPermitted.
//
// Formatting a Key with any fmt verb, or logging it with slog, shows only its
// type and mechanisms.
type Key struct {
	typ    Type
	mechs  []Mechanism
	signer crypto.Signer // *rsa.PrivateKey, *ecdsa.PrivateKey or ed25519.PrivateKey
	secret []byte        // the AES key of a Generic key
}

// Type returns the key's type.
func (k *Key) Type() Type { return k.typ }

// Mechanisms returns a copy of the key's mechanisms.
func (k *Key) Mechanisms() []Mechanism { return slices.Clone(k.mechs) }

// HasMechanism reports whether the key may be used with m.
func (k *Key) HasMechanism(m Mechanism) bool { return slices.Contains(k.mechs, m) }

// Public returns the public key (*rsa.PublicKey, *ecdsa.PublicKey or
// ed25519.PublicKey), or nil for a Generic key.
func (k *Key) Public() crypto.PublicKey {
	if k.signer == nil {
		return nil
	}
	return k.signer.Public()
}

// String returns the key's type and mechanisms, never its material.
//
// String, Format and LogValue have value receivers so that they also cover a
// Key value, which fmt would otherwise print field by field.
func (k Key) String() string {
	return fmt.Sprintf("%s key %v", k.typeName(), k.mechs)
}

// Format makes every fmt verb, including %#v and %x, print String, so that
// no verb reaches the private fields.
func (k Key) Format(f fmt.State, _ rune) {
	_, _ = io.WriteString(f, k.String())
}

// LogValue shows only the type and mechanisms in structured logs.
func (k Key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("type", string(k.typ)), slog.Any("mechanisms", k.mechs))
}

// require returns an error wrapping ErrNotPermitted unless the key carries m.
func (k *Key) require(m Mechanism) error {
	if !k.HasMechanism(m) {
		return fmt.Errorf("key has no %s mechanism: %w", m, ErrNotPermitted)
	}
	return nil
}

// newAsymmetric builds a Key around a parsed or generated private key,
// deriving its type and checking that type and mechanisms go together.
func newAsymmetric(priv any, mechs []Mechanism) (*Key, error) {
	t, signer, err := classify(priv)
	if err != nil {
		return nil, err
	}
	ms, err := checkMechanisms(t, mechs)
	if err != nil {
		return nil, err
	}
	return &Key{typ: t, mechs: ms, signer: signer}, nil
}

// classify returns the Type of a private key of the crypto library and the
// key as a crypto.Signer.
func classify(priv any) (Type, crypto.Signer, error) {
	switch p := priv.(type) {
	case *rsa.PrivateKey:
		return TypeRSA, p, checkRSA(p)
	case *ecdsa.PrivateKey:
		t, err := curveType(p.Curve)
		return t, p, err
	case ed25519.PrivateKey:
		return TypeCurve25519, p, nil
	case *ecdh.PrivateKey:
		return "", nil, unsupportedf("%s key agreement keys are not supported (Curve25519 keys are Ed25519 signing keys)", p.Curve())
	default:
		return "", nil, unsupportedf("private keys of Go type %T are not supported", priv)
	}
}

// checkRSA checks that an RSA key has two primes and a supported size, and
// makes sure its CRT values are precomputed, because without them every
// private operation recomputes them.
func checkRSA(p *rsa.PrivateKey) error {
	if len(p.Primes) != 2 {
		return unsupportedf("RSA keys with %d primes are not supported, want 2", len(p.Primes))
	}
	if err := checkRSABits(p.N.BitLen()); err != nil {
		return err
	}
	p.Precompute()
	return nil
}

// checkRSABits checks the RSA modulus size in bits.
func checkRSABits(bits int) error {
	if bits < minRSABits || bits > maxRSABits {
		return invalidf("RSA key length %d bits is outside %d..%d", bits, minRSABits, maxRSABits)
	}
	return nil
}

// curveType maps a curve of the crypto library to a supported Type.
func curveType(c elliptic.Curve) (Type, error) {
	switch c {
	case elliptic.P256():
		return TypeECP256, nil
	case elliptic.P384():
		return TypeECP384, nil
	case elliptic.P521():
		return TypeECP521, nil
	}
	return "", unsupportedf("EC curve %s is not supported", c.Params().Name)
}

// typeCurve is the inverse of curveType.
func typeCurve(t Type) elliptic.Curve {
	switch t {
	case TypeECP256:
		return elliptic.P256()
	case TypeECP384:
		return elliptic.P384()
	case TypeECP521:
		return elliptic.P521()
	}
	return nil
}

// aesKeyLen reports whether n is an AES key length in bytes.
func aesKeyLen(n int) bool { return n == 16 || n == 24 || n == 32 }

// newGeneric builds a Generic key around an AES key.
func newGeneric(secret []byte, mechs []Mechanism) (*Key, error) {
	if !aesKeyLen(len(secret)) {
		return nil, invalidf("Generic key is %d bits, want 128, 192 or 256", 8*len(secret))
	}
	ms, err := checkMechanisms(TypeGeneric, mechs)
	if err != nil {
		return nil, err
	}
	return &Key{typ: TypeGeneric, mechs: ms, secret: slices.Clone(secret)}, nil
}
