//go:build cgo

package hsm

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"fmt"
	"io"

	"github.com/miekg/pkcs11"
)

// Signer is a P-256 private key inside the token, used as a crypto.Signer
// (for example as a tls.Certificate's PrivateKey). Each signature uses one
// pooled session, so a Signer is safe for concurrent use; it stops working
// when its Module is closed.
type Signer struct {
	m     *Module
	label string
	pub   *ecdsa.PublicKey
}

var _ crypto.Signer = (*Signer)(nil)

// oidP256 is the DER encoding of the P-256 curve OID, the CKA_EC_PARAMS value
// of a P-256 key.
var oidP256 = []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}

var ecdsaMech = []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil)}

// Signer returns the EC key pair labelled label as a Signer. It returns an
// error wrapping ErrNotFound if the token has no such private or public key.
func (m *Module) Signer(ctx context.Context, label string) (*Signer, error) {
	var pub *ecdsa.PublicKey
	err := m.do(ctx, func(s pkcs11.SessionHandle) error {
		if _, err := m.handle(s, pkcs11.CKO_PRIVATE_KEY, label); err != nil {
			return err
		}
		var err error
		pub, err = m.publicKey(s, label)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("hsm signer %q: %w", label, err)
	}
	return &Signer{m: m, label: label, pub: pub}, nil
}

// publicKey reads the P-256 public key labelled label.
func (m *Module) publicKey(s pkcs11.SessionHandle, label string) (*ecdsa.PublicKey, error) {
	h, err := m.handle(s, pkcs11.CKO_PUBLIC_KEY, label)
	if err != nil {
		return nil, err
	}
	attrs, err := m.lib.ctx.GetAttributeValue(s, h, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, nil),
		pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, nil),
		pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, nil),
	})
	if err != nil {
		return nil, err
	}
	if kt := ulongValue(attrs[0].Value); kt != pkcs11.CKK_EC || string(attrs[1].Value) != string(oidP256) {
		return nil, fmt.Errorf("key %q is not a P-256 key (key type %#x)", label, kt)
	}
	return parseECPoint(attrs[2].Value)
}

// Label returns the label of the key pair.
func (k *Signer) Label() string { return k.label }

// Public returns the *ecdsa.PublicKey of the key pair.
func (k *Signer) Public() crypto.PublicKey { return k.pub }

// Sign signs a digest the caller computed, returning an ASN.1 DER ECDSA
// signature. rand is ignored: the token draws its own randomness. Sign waits
// for a free session without a deadline; use SignContext to bound the wait.
func (k *Signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return k.SignContext(context.Background(), digest, opts)
}

// SignContext is Sign with a context bounding the wait for a session.
func (k *Signer) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if err := checkDigest(digest, opts); err != nil {
		return nil, fmt.Errorf("hsm sign with %q: %w", k.label, err)
	}
	var raw []byte
	err := k.m.do(ctx, func(s pkcs11.SessionHandle) error {
		key, err := k.m.handle(s, pkcs11.CKO_PRIVATE_KEY, k.label)
		if err != nil {
			return err
		}
		if err := k.m.lib.ctx.SignInit(s, ecdsaMech, key); err != nil {
			return err
		}
		raw, err = k.m.lib.ctx.Sign(s, digest)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("hsm sign with %q: %w", k.label, err)
	}
	sig, err := rawToDER(raw)
	if err != nil {
		return nil, fmt.Errorf("hsm sign with %q: %w", k.label, err)
	}
	return sig, nil
}
