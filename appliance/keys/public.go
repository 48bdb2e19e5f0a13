package keys

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
)

// PublicData is the KeyPublicData schema: modulus and publicExponent
// (big-endian) for RSA keys, data for the others (the uncompressed point
// 0x04||X||Y for EC keys, the 32-byte RFC 8032 public key for Curve25519).
// encoding/json writes the byte slices as standard base64.
type PublicData struct {
	Modulus        []byte `json:"modulus,omitempty"`
	PublicExponent []byte `json:"publicExponent,omitempty"`
	Data           []byte `json:"data,omitempty"`
}

// PublicData returns the key's public part, or nil for a Generic key (the
// API shows null then).
func (k *Key) PublicData() *PublicData {
	switch pub := k.Public().(type) {
	case *rsa.PublicKey:
		return &PublicData{Modulus: pub.N.Bytes(), PublicExponent: big.NewInt(int64(pub.E)).Bytes()}
	case *ecdsa.PublicKey:
		// Bytes only fails for keys on curves we never build.
		b, _ := pub.Bytes()
		return &PublicData{Data: b}
	case ed25519.PublicKey:
		return &PublicData{Data: []byte(pub)}
	}
	return nil
}

// PublicPEM returns the public key as a PKIX "PUBLIC KEY" PEM block. Generic
// keys have no public key: the error wraps ErrInvalid.
func (k *Key) PublicPEM() ([]byte, error) {
	pub := k.Public()
	if pub == nil {
		return nil, invalidf("public key: %s keys have no public key", k.typeName())
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// typeName names the key's type in messages, also for the zero Key.
func (k *Key) typeName() string {
	if k.typ == "" {
		return "empty"
	}
	return string(k.typ)
}
