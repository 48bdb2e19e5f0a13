package hsm

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
)

// rawToDER converts a PKCS#11 ECDSA signature (r || s, each half the length)
// to the ASN.1 DER form crypto.Signer callers expect.
func rawToDER(raw []byte) ([]byte, error) {
	if len(raw) == 0 || len(raw)%2 != 0 {
		return nil, fmt.Errorf("ecdsa signature of %d bytes from token, want r || s", len(raw))
	}
	half := len(raw) / 2
	return asn1.Marshal(struct{ R, S *big.Int }{
		new(big.Int).SetBytes(raw[:half]),
		new(big.Int).SetBytes(raw[half:]),
	})
}

// parseECPoint decodes a P-256 CKA_EC_POINT value. PKCS#11 wants it DER
// wrapped in an OCTET STRING; some tokens return the bare point.
func parseECPoint(v []byte) (*ecdsa.PublicKey, error) {
	// A bare uncompressed P-256 point is 65 bytes from 0x04, which is also
	// the DER tag of an OCTET STRING: when its first coordinate byte happens
	// to be 63 it even parses as one. So the bare form is recognised by its
	// length first; a DER-wrapped point is 67 bytes.
	point := v
	if len(v) != 65 || v[0] != 4 {
		if rest, err := asn1.Unmarshal(v, &point); err != nil || len(rest) != 0 {
			point = v
		}
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return nil, fmt.Errorf("parse EC public key from token: %w", err)
	}
	return pub, nil
}

// checkDigest refuses what CKM_ECDSA cannot do right: PSS options, and
// digests whose length does not match the hash the caller names. Nil opts
// mean a digest of any length, as for ecdsa.PrivateKey.
func checkDigest(digest []byte, opts crypto.SignerOpts) error {
	if _, ok := opts.(*rsa.PSSOptions); ok {
		return errors.New("RSA-PSS options for an ECDSA key")
	}
	if len(digest) == 0 {
		return errors.New("empty digest")
	}
	if opts == nil {
		return nil
	}
	if h := opts.HashFunc(); h != 0 && len(digest) != h.Size() {
		return fmt.Errorf("digest is %d bytes, want %d for %v", len(digest), h.Size(), h)
	}
	return nil
}
