package keys

import (
	"crypto/rsa"
	"fmt"
)

// Decrypt decrypts ct with the key:
//   - RAW: textbook RSA, ct^d mod n, returned left-padded to the modulus size.
//   - PKCS1, OAEP_*: RSAES-PKCS1-v1_5 or RSAES-OAEP (the same hash for OAEP
//     and MGF1, empty label); ct may not be longer than the modulus.
//   - AES_CBC: no padding is removed; ct must be a non-empty multiple of 16
//     bytes and iv exactly 16 bytes.
//
// iv is ignored by the RSA modes. Errors wrap ErrInvalid (unknown mode, bad
// lengths, failed decryption) or ErrNotPermitted (the key lacks the mode's
// mechanism).
func (k *Key) Decrypt(mode DecryptMode, ct, iv []byte) ([]byte, error) {
	pt, err := k.decrypt(mode, ct, iv)
	if err != nil {
		return nil, fmt.Errorf("decrypt %s: %w", mode, err)
	}
	return pt, nil
}

func (k *Key) decrypt(mode DecryptMode, ct, iv []byte) ([]byte, error) {
	if err := mode.Validate(); err != nil {
		return nil, err
	}
	info := decryptModes[mode]
	if err := k.require(info.mech); err != nil {
		return nil, err
	}
	if mode == DecryptAESCBC {
		return aesCBC(k.secret, ct, iv, false)
	}
	priv, ok := k.signer.(*rsa.PrivateKey)
	if !ok {
		return nil, errWrongMaterial
	}
	if len(ct) == 0 {
		return nil, invalidf("ciphertext is empty")
	}
	if len(ct) > priv.Size() {
		return nil, invalidf("ciphertext is %d bytes, longer than the %d-byte modulus", len(ct), priv.Size())
	}
	switch mode {
	case DecryptRAW:
		return rawDecrypt(priv, ct)
	case DecryptPKCS1:
		// Deprecated in Go 1.26 because PKCS#1 v1.5 decryption invites
		// padding oracles; the API offers it (as NetHSM does) and a key
		// only allows it when created with RSA_Decryption_PKCS1.
		//lint:ignore SA1019 the reference API's PKCS1 mode; see the comment above.
		pt, err := rsa.DecryptPKCS1v15(nil, priv, ct)
		return pt, decryptionError(err)
	default:
		h := info.hash
		if priv.Size() < 2*h.Size()+2 {
			return nil, invalidf("a %d-bit key is too small for OAEP with %s", priv.N.BitLen(), h)
		}
		pt, err := rsa.DecryptOAEP(h.New(), nil, priv, ct, nil)
		return pt, decryptionError(err)
	}
}

// decryptionError reports every padding failure with the same message so
// that the message tells no more than the failure itself.
func decryptionError(err error) error {
	if err != nil {
		return invalidf("decryption failed")
	}
	return nil
}
