// Package tlsconf holds the appliance's HTTPS identity: the TLS private key
// and its certificate chain, how they are generated, replaced through a CSR,
// serialised for storage, and served so that a new certificate takes effect
// on the next handshake without restarting the listener. It knows nothing of
// where the identity is stored; callers encrypt what MarshalBinary returns.
package tlsconf

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"sync"
)

// Identity is a TLS private key and the certificate chain (leaf first) that
// presents it. It is safe for concurrent use. The zero value is empty and
// becomes usable through UnmarshalBinary.
type Identity struct {
	mu     sync.RWMutex
	key    crypto.Signer
	ref    string   // when not empty, key lives outside (an HSM) under this name
	pubDER []byte   // PKIX encoding of key.Public()
	chain  [][]byte // DER certificates, leaf first
	leaf   *x509.Certificate
}

// Generate creates a new key of type t (bits applies to RSA only; 0 selects
// DefaultRSABits) and a self-signed certificate for hosts plus localhost,
// 127.0.0.1 and ::1 (see SelfSignedValidity). It returns errors wrapping
// ErrUnsupported for key types Go cannot serve and ErrInvalid for a bad RSA
// length or host.
func Generate(t KeyType, bits int, hosts []string) (*Identity, error) {
	key, err := newKey(t, bits)
	if err != nil {
		return nil, err
	}
	der, err := selfSign(key, hosts)
	if err != nil {
		return nil, err
	}
	id := &Identity{}
	if err := id.install(key, [][]byte{der}); err != nil {
		return nil, err
	}
	return id, nil
}

// GenerateExternal creates a self-signed identity for a key that lives
// outside the process (a PKCS#11 token). MarshalBinary stores only ref, the
// key's name, and the chain; UnmarshalResolve finds the key again.
func GenerateExternal(key crypto.Signer, ref string, hosts []string) (*Identity, error) {
	if ref == "" {
		return nil, fmt.Errorf("%w: an external key needs a reference", ErrInvalid)
	}
	der, err := selfSign(key, hosts)
	if err != nil {
		return nil, err
	}
	id := &Identity{ref: ref}
	if err := id.install(key, [][]byte{der}); err != nil {
		return nil, err
	}
	return id, nil
}

// External reports the reference of a key that lives outside the process, or
// "" for a key held in memory.
func (id *Identity) External() string {
	id.mu.RLock()
	defer id.mu.RUnlock()
	return id.ref
}

// install sets key and chain after checking that the leaf matches the key.
func (id *Identity) install(key crypto.Signer, chain [][]byte) error {
	pubDER, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return fmt.Errorf("tlsconf: marshal public key: %w", err)
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return fmt.Errorf("tlsconf: parse leaf certificate: %w", err)
	}
	if err := matchKey(key, leaf); err != nil {
		return err
	}
	id.mu.Lock()
	defer id.mu.Unlock()
	id.key, id.pubDER, id.chain, id.leaf = key, pubDER, chain, leaf
	return nil
}

// matchKey returns ErrKeyMismatch unless leaf certifies key's public half.
func matchKey(key crypto.Signer, leaf *x509.Certificate) error {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		return fmt.Errorf("%w: certificate for %q has a different public key", ErrKeyMismatch, leaf.Subject.CommonName)
	}
	return nil
}

// SetCertificate replaces the certificate chain with pemChain (PEM
// CERTIFICATE blocks, leaf first). It returns an error wrapping ErrMalformed
// if the input is not such a chain and ErrKeyMismatch if the leaf does not
// certify this identity's key; on error nothing changes.
func (id *Identity) SetCertificate(pemChain []byte) error {
	chain, err := parseChain(pemChain)
	if err != nil {
		return err
	}
	key := id.signer()
	if key == nil {
		return errors.New("tlsconf: set certificate: identity has no key")
	}
	return id.install(key, chain)
}

// parseChain decodes PEM certificates, refusing any other block type (a
// private key pasted by mistake must not be accepted silently) and trailing data.
func parseChain(data []byte) ([][]byte, error) {
	var chain [][]byte
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%w: pem block %q in certificate chain, want CERTIFICATE", ErrMalformed, block.Type)
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return nil, fmt.Errorf("%w: certificate %d: %w", ErrMalformed, len(chain)+1, err)
		}
		chain = append(chain, block.Bytes)
	}
	if len(chain) == 0 || len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%w: want one or more PEM CERTIFICATE blocks and nothing else", ErrMalformed)
	}
	return chain, nil
}

func (id *Identity) signer() crypto.Signer {
	id.mu.RLock()
	defer id.mu.RUnlock()
	return id.key
}

// CertPEM returns the certificate chain, leaf first, as PEM.
func (id *Identity) CertPEM() []byte {
	id.mu.RLock()
	defer id.mu.RUnlock()
	var out []byte
	for _, der := range id.chain {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	return out
}

// PublicPEM returns the public key as a PEM PUBLIC KEY (PKIX) block.
func (id *Identity) PublicPEM() []byte {
	id.mu.RLock()
	defer id.mu.RUnlock()
	if id.pubDER == nil {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: id.pubDER})
}

// Certificate returns a snapshot of the identity for crypto/tls. Later
// changes to the Identity do not affect the returned value.
func (id *Identity) Certificate() tls.Certificate {
	id.mu.RLock()
	defer id.mu.RUnlock()
	return tls.Certificate{Certificate: id.chain, PrivateKey: id.key, Leaf: id.leaf}
}

// MarshalBinary encodes the private key (PKCS #8) and the chain as PEM. The
// result contains the private key in plaintext: callers must encrypt it.
func (id *Identity) MarshalBinary() ([]byte, error) {
	id.mu.RLock()
	defer id.mu.RUnlock()
	if id.key == nil {
		return nil, errors.New("tlsconf: marshal identity: identity is empty")
	}
	if id.ref != "" {
		out := pem.EncodeToMemory(&pem.Block{Type: refBlock, Bytes: []byte(id.ref)})
		for _, cert := range id.chain {
			out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert})...)
		}
		return out, nil
	}
	der, err := x509.MarshalPKCS8PrivateKey(id.key)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: marshal identity: %w", err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	for _, cert := range id.chain {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert})...)
	}
	return out, nil
}

// UnmarshalBinary replaces the identity with one encoded by MarshalBinary. It
// returns an error wrapping ErrMalformed, ErrUnsupported or ErrKeyMismatch
// when data is not a valid identity; on error nothing changes.
func (id *Identity) UnmarshalBinary(data []byte) error {
	return id.UnmarshalResolve(data, nil)
}

// refBlock is the PEM type that stands for a key kept outside the process.
const refBlock = "KEYWARDEN KEY REFERENCE"

// UnmarshalResolve is UnmarshalBinary for identities whose key may live
// outside the process: resolve returns the key for its reference. Without a
// resolver such an identity is an error.
func (id *Identity) UnmarshalResolve(data []byte, resolve func(ref string) (crypto.Signer, error)) error {
	block, rest := pem.Decode(data)
	if block != nil && block.Type == refBlock {
		if resolve == nil {
			return fmt.Errorf("%w: identity key %q lives outside the process and no resolver was given", ErrMalformed, block.Bytes)
		}
		key, err := resolve(string(block.Bytes))
		if err != nil {
			return fmt.Errorf("tlsconf: identity key %q: %w", block.Bytes, err)
		}
		chain, err := parseChain(rest)
		if err != nil {
			return err
		}
		if err := id.install(key, chain); err != nil {
			return err
		}
		id.mu.Lock()
		id.ref = string(block.Bytes)
		id.mu.Unlock()
		return nil
	}
	if block == nil || block.Type != "PRIVATE KEY" {
		return fmt.Errorf("%w: identity does not start with a PRIVATE KEY block", ErrMalformed)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return fmt.Errorf("%w: identity key: %w", ErrMalformed, err)
	}
	key, err := checkSigner(parsed)
	if err != nil {
		return err
	}
	chain, err := parseChain(rest)
	if err != nil {
		return err
	}
	return id.install(key, chain)
}

// PrivateKeyPEM returns the private key as PKCS #8 PEM, for a peer that reads
// its key by file (the cluster store's peer transport). It is plaintext key
// material: callers keep it in memory or seal it. A key that lives outside
// the process cannot leave it, which wraps ErrUnsupported.
func (id *Identity) PrivateKeyPEM() ([]byte, error) {
	id.mu.RLock()
	defer id.mu.RUnlock()
	switch {
	case id.key == nil:
		return nil, errors.New("tlsconf: identity is empty")
	case id.ref != "":
		return nil, fmt.Errorf("%w: the key %q lives in a token and cannot be exported", ErrUnsupported, id.ref)
	}
	der, err := x509.MarshalPKCS8PrivateKey(id.key)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: marshal private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
