package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	_ "crypto/md5" // PSS_MD5 and OAEP_MD5
	"crypto/rand"
	"crypto/rsa"
	_ "crypto/sha1" // PSS_SHA1 and OAEP_SHA1
	_ "crypto/sha256"
	_ "crypto/sha512"
	"errors"
	"fmt"
)

// errWrongMaterial means a key carries a mechanism its material cannot
// serve. Construction prevents it; seeing it means a bug in this package.
var errWrongMaterial = errors.New("key material does not match its mechanisms")

// Sign signs msg with the key. What msg is depends on the mode:
//   - PKCS1: the bytes to pad and sign, normally DigestInfo||hash (no
//     DigestInfo is added here), at most the key size minus 11 bytes.
//   - PSS_*: the hash; it must be exactly as long as the mode's hash. The salt
//     is as long as the hash.
//   - ECDSA: the hash, at most as long as the group order; the signature is
//     ASN.1 DER.
//   - EdDSA: the message itself; the signature is 64 bytes (RFC 8032).
//
// Errors wrap ErrInvalid (unknown mode, bad message), ErrUnsupported (BIP340)
// or ErrNotPermitted (the key lacks the mode's mechanism).
func (k *Key) Sign(mode SignMode, msg []byte) ([]byte, error) {
	sig, err := k.sign(mode, msg)
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", mode, err)
	}
	return sig, nil
}

func (k *Key) sign(mode SignMode, msg []byte) ([]byte, error) {
	if err := mode.Validate(); err != nil {
		return nil, err
	}
	if mode == SignBIP340 {
		return nil, unsupportedf("mode BIP340 is not supported")
	}
	info := signModes[mode]
	if err := k.require(info.mech); err != nil {
		return nil, err
	}
	switch mode {
	case SignEdDSA:
		return signEdDSA(k.signer, msg)
	case SignECDSA:
		return signECDSA(k.signer, msg)
	case SignPKCS1:
		return signPKCS1(k.signer, msg)
	default:
		return signPSS(k.signer, info.hash, msg)
	}
}

func signEdDSA(s crypto.Signer, msg []byte) ([]byte, error) {
	priv, ok := s.(ed25519.PrivateKey)
	if !ok {
		return nil, errWrongMaterial
	}
	return ed25519.Sign(priv, msg), nil
}

func signECDSA(s crypto.Signer, digest []byte) ([]byte, error) {
	priv, ok := s.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errWrongMaterial
	}
	// The API rejects input wider than the group order instead of silently
	// truncating it, so that a client sending the message instead of its
	// hash learns about it. The limit is in whole bytes, so P-521 takes 66.
	size := (priv.Curve.Params().N.BitLen() + 7) / 8
	if len(digest) == 0 {
		return nil, invalidf("message is empty, want a hash")
	}
	if len(digest) > size {
		return nil, invalidf("message is %d bytes, longer than the %d-byte group order; send the hash, not the data", len(digest), size)
	}
	return ecdsa.SignASN1(rand.Reader, priv, digest)
}

func signPKCS1(s crypto.Signer, msg []byte) ([]byte, error) {
	priv, ok := s.(*rsa.PrivateKey)
	if !ok {
		return nil, errWrongMaterial
	}
	if len(msg) == 0 {
		return nil, invalidf("message is empty, want DigestInfo and hash")
	}
	if limit := priv.Size() - 11; len(msg) > limit {
		return nil, invalidf("message is %d bytes, longer than %d, the most a %d-bit key signs with PKCS1 padding",
			len(msg), limit, priv.N.BitLen())
	}
	// Hash 0 makes crypto/rsa pad and sign msg as given: the caller has
	// already prepended the DigestInfo, as the API requires.
	return rsa.SignPKCS1v15(nil, priv, 0, msg)
}

func signPSS(s crypto.Signer, h crypto.Hash, digest []byte) ([]byte, error) {
	priv, ok := s.(*rsa.PrivateKey)
	if !ok {
		return nil, errWrongMaterial
	}
	if len(digest) != h.Size() {
		return nil, invalidf("message is %d bytes, want %d (a %s hash)", len(digest), h.Size(), h)
	}
	// EMSA-PSS needs emLen >= hLen + sLen + 2 with sLen = hLen.
	if emLen := (priv.N.BitLen() + 6) / 8; emLen < 2*h.Size()+2 {
		return nil, invalidf("a %d-bit key is too small for PSS with %s", priv.N.BitLen(), h)
	}
	return rsa.SignPSS(rand.Reader, priv, h, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
}
