package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/keywarden/keywarden/appliance/client"
)

// errBadSignature means a signature from the appliance did not verify.
var errBadSignature = errors.New("signature does not verify")

// sha256DigestInfo is the DER DigestInfo prefix of a SHA-256 hash (RFC 8017
// section 9.2, note 1): the PKCS1 sign mode expects it before the hash.
var sha256DigestInfo = []byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
	0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}

// signFunc signs one input in-process.
type signFunc func(input []byte) ([]byte, error)

// mechanism is one thing kwbench measures: a key type, the sign mode used
// with it, what the 32 random bytes of a request turn into, and how the
// same operation is done in-process.
type mechanism struct {
	name  string
	gen   client.KeyGenerateRequest // without ID
	mode  client.SignMode
	input func(random []byte) []byte
	// verify checks sig over input with pub, a parsed PKIX public key.
	verify func(pub any, input, sig []byte) error
	// local creates a key of the same type and returns a signFunc that
	// makes the same library call the appliance makes for this mode, and
	// the public key.
	local func() (signFunc, crypto.PublicKey, error)
}

var mechanisms = []*mechanism{
	{
		name:   "p256",
		gen:    client.KeyGenerateRequest{Type: client.KeyTypeECP256, Mechanisms: []client.KeyMechanism{client.MechECDSASignature}},
		mode:   client.SignModeECDSA,
		input:  digest,
		verify: verifyECDSA,
		local:  localECDSA,
	},
	{
		name:   "ed25519",
		gen:    client.KeyGenerateRequest{Type: client.KeyTypeCurve25519, Mechanisms: []client.KeyMechanism{client.MechEdDSASignature}},
		mode:   client.SignModeEdDSA,
		input:  func(random []byte) []byte { return random },
		verify: verifyEd25519,
		local:  localEd25519,
	},
	{
		name:   "rsa2048",
		gen:    client.KeyGenerateRequest{Type: client.KeyTypeRSA, Length: 2048, Mechanisms: []client.KeyMechanism{client.MechRSASignaturePKCS1}},
		mode:   client.SignModePKCS1,
		input:  func(random []byte) []byte { return append(append([]byte{}, sha256DigestInfo...), digest(random)...) },
		verify: verifyPKCS1,
		local:  localRSA,
	},
}

func mechanismNamed(name string) *mechanism {
	for _, m := range mechanisms {
		if m.name == name {
			return m
		}
	}
	return nil
}

func digest(b []byte) []byte {
	sum := sha256.Sum256(b)
	return sum[:]
}

// parsePublicPEM parses the PEM public key the appliance returns.
func parsePublicPEM(b []byte) (any, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("parse public key: no PEM block")
	}
	pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse public key: %w", err)
	}
	return pub, nil
}

func verifyECDSA(pub any, input, sig []byte) error {
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return fmt.Errorf("public key is %T, want ECDSA", pub)
	}
	if !ecdsa.VerifyASN1(k, input, sig) {
		return errBadSignature
	}
	return nil
}

func verifyEd25519(pub any, input, sig []byte) error {
	k, ok := pub.(ed25519.PublicKey)
	if !ok {
		return fmt.Errorf("public key is %T, want Ed25519", pub)
	}
	if !ed25519.Verify(k, input, sig) {
		return errBadSignature
	}
	return nil
}

func verifyPKCS1(pub any, input, sig []byte) error {
	k, ok := pub.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("public key is %T, want RSA", pub)
	}
	// Hash 0: input already carries the DigestInfo, as it did when signed.
	if err := rsa.VerifyPKCS1v15(k, 0, input, sig); err != nil {
		return fmt.Errorf("%w: %w", errBadSignature, err)
	}
	return nil
}

func localECDSA() (signFunc, crypto.PublicKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate p256 key: %w", err)
	}
	return func(in []byte) ([]byte, error) { return ecdsa.SignASN1(rand.Reader, k, in) }, k.Public(), nil
}

func localEd25519() (signFunc, crypto.PublicKey, error) {
	pub, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate ed25519 key: %w", err)
	}
	return func(in []byte) ([]byte, error) { return ed25519.Sign(k, in), nil }, pub, nil
}

func localRSA() (signFunc, crypto.PublicKey, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, fmt.Errorf("generate rsa2048 key: %w", err)
	}
	k.Precompute()
	return func(in []byte) ([]byte, error) { return rsa.SignPKCS1v15(nil, k, crypto.Hash(0), in) }, k.Public(), nil
}
