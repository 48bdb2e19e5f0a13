package tpm

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// identityUnique makes the identity a Keywarden-specific primary key: a
// primary key is derived from the owner seed and its template, so without
// this another program using a generic template would get the same key.
var identityUnique = sha256.Sum256([]byte("keywarden device identity v1"))

// identityTemplate is the device identity: an ECC P-256 signing key derived
// inside the TPM from the owner hierarchy's seed. It is not restricted, so it
// signs any digest (a CSR for the device certificate, the appliance's own
// statements); the signing scheme is chosen per signature.
func identityTemplate() tpm2.TPMTPublic {
	return tpm2.TPMTPublic{
		Type:    tpm2.TPMAlgECC,
		NameAlg: tpm2.TPMAlgSHA256,
		ObjectAttributes: tpm2.TPMAObject{
			FixedTPM:            true,
			FixedParent:         true,
			SensitiveDataOrigin: true,
			UserWithAuth:        true,
			NoDA:                true,
			SignEncrypt:         true,
		},
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgECC, &tpm2.TPMSECCParms{
			Symmetric: tpm2.TPMTSymDefObject{Algorithm: tpm2.TPMAlgNull},
			Scheme:    tpm2.TPMTECCScheme{Scheme: tpm2.TPMAlgNull},
			CurveID:   tpm2.TPMECCNistP256,
			KDF:       tpm2.TPMTKDFScheme{Scheme: tpm2.TPMAlgNull},
		}),
		Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{
			X: tpm2.TPM2BECCParameter{Buffer: identityUnique[:]},
			Y: tpm2.TPM2BECCParameter{Buffer: make([]byte, 32)},
		}),
	}
}

// identityKey is what Open learns about the identity key.
type identityKey struct {
	name tpm2.TPM2BName
	pub  *ecdsa.PublicKey
}

// createIdentity derives the identity key into a transient handle, which the
// caller flushes. Because the derivation is deterministic, the same TPM
// yields the same key every time until its owner hierarchy is cleared.
func createIdentity(tr transport.TPM) (*tpm2.CreatePrimaryResponse, error) {
	rsp, err := tpm2.CreatePrimary{
		PrimaryHandle: tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)},
		InPublic:      tpm2.New2B(identityTemplate()),
	}.Execute(tr)
	if err != nil {
		return nil, fmt.Errorf("create identity key: %w", err)
	}
	return rsp, nil
}

// loadIdentity derives the identity key once to learn its name and public key.
func loadIdentity(tr transport.TPM) (identityKey, error) {
	rsp, err := createIdentity(tr)
	if err != nil {
		return identityKey{}, err
	}
	defer flush(tr, rsp.ObjectHandle)
	pub, err := rsp.OutPublic.Contents()
	if err != nil {
		return identityKey{}, fmt.Errorf("identity public area: %w", err)
	}
	key, err := ecdsaPublic(pub)
	if err != nil {
		return identityKey{}, fmt.Errorf("identity public key: %w", err)
	}
	return identityKey{name: rsp.Name, pub: key}, nil
}

// ecdsaPublic converts a TPM P-256 public area, checking the point is on the curve.
func ecdsaPublic(pub *tpm2.TPMTPublic) (*ecdsa.PublicKey, error) {
	point, err := pub.Unique.ECC()
	if err != nil {
		return nil, err
	}
	const size = 32
	if len(point.X.Buffer) > size || len(point.Y.Buffer) > size {
		return nil, errors.New("coordinates longer than P-256's")
	}
	raw := make([]byte, 1+2*size)
	raw[0] = 4 // uncompressed point
	copy(raw[1+size-len(point.X.Buffer):], point.X.Buffer)
	copy(raw[1+2*size-len(point.Y.Buffer):], point.Y.Buffer)
	return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
}

// signer is the identity key as a crypto.Signer. Signatures are made by the
// TPM; the private key never exists outside it.
type signer struct{ t *TPM }

var _ crypto.Signer = signer{}

// Public returns the identity's *ecdsa.PublicKey.
func (s signer) Public() crypto.PublicKey { return s.t.identity.pub }

// signHashes are the digests the identity signs, by crypto.Hash.
var signHashes = map[crypto.Hash]tpm2.TPMIAlgHash{
	crypto.SHA256: tpm2.TPMAlgSHA256,
	crypto.SHA384: tpm2.TPMAlgSHA384,
	crypto.SHA512: tpm2.TPMAlgSHA512,
}

// Sign signs digest, a SHA-256, SHA-384 or SHA-512 hash named by opts, with
// ECDSA in the TPM and returns an ASN.1 DER signature. rand is not used: the
// TPM draws its own nonce. After Close it returns an error wrapping
// rot.ErrClosed.
func (s signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts == nil {
		return nil, errors.New("tpm identity sign: no hash named (opts is nil)")
	}
	h := opts.HashFunc()
	alg, ok := signHashes[h]
	if !ok {
		return nil, fmt.Errorf("tpm identity sign: unsupported hash %v, want SHA-256, SHA-384 or SHA-512", h)
	}
	if len(digest) != h.Size() {
		return nil, fmt.Errorf("tpm identity sign: digest is %d bytes, want %d for %v", len(digest), h.Size(), h)
	}
	var sig []byte
	err := s.t.do(context.Background(), func(tr transport.TPM) (err error) {
		sig, err = s.t.identity.sign(tr, alg, digest)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("tpm identity sign: %w", err)
	}
	return sig, nil
}

// sign derives the identity key, checks it is still the key Open found (the
// owner hierarchy may have been cleared since), signs and flushes it.
func (k identityKey) sign(tr transport.TPM, alg tpm2.TPMIAlgHash, digest []byte) (sig []byte, err error) {
	key, err := createIdentity(tr)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, flush(tr, key.ObjectHandle)) }()
	if !bytes.Equal(key.Name.Buffer, k.name.Buffer) {
		return nil, errors.New("the identity key changed since the TPM was opened (owner hierarchy cleared?)")
	}
	rsp, err := tpm2.Sign{
		KeyHandle: tpm2.AuthHandle{Handle: key.ObjectHandle, Name: key.Name, Auth: tpm2.PasswordAuth(nil)},
		Digest:    tpm2.TPM2BDigest{Buffer: digest},
		InScheme: tpm2.TPMTSigScheme{
			Scheme:  tpm2.TPMAlgECDSA,
			Details: tpm2.NewTPMUSigScheme(tpm2.TPMAlgECDSA, &tpm2.TPMSSchemeHash{HashAlg: alg}),
		},
		Validation: tpm2.TPMTTKHashCheck{Tag: tpm2.TPMSTHashCheck, Hierarchy: tpm2.TPMRHNull},
	}.Execute(tr)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	ecc, err := rsp.Signature.Signature.ECDSA()
	if err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	return asn1.Marshal(struct{ R, S *big.Int }{
		new(big.Int).SetBytes(ecc.SignatureR.Buffer),
		new(big.Int).SetBytes(ecc.SignatureS.Buffer),
	})
}
