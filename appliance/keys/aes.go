package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
)

// Encrypt encrypts msg with a Generic key. AES_CBC adds no padding: msg must
// be a non-empty multiple of 16 bytes. iv must be 16 bytes, or empty to use a
// random one; the iv used is returned with the ciphertext.
//
// Errors wrap ErrInvalid (unknown mode, bad lengths) or ErrNotPermitted (the
// key lacks AES_Encryption_CBC).
func (k *Key) Encrypt(mode EncryptMode, msg, iv []byte) (ct, ivUsed []byte, err error) {
	ct, ivUsed, err = k.encrypt(mode, msg, iv)
	if err != nil {
		return nil, nil, fmt.Errorf("encrypt %s: %w", mode, err)
	}
	return ct, ivUsed, nil
}

func (k *Key) encrypt(mode EncryptMode, msg, iv []byte) ([]byte, []byte, error) {
	if err := mode.Validate(); err != nil {
		return nil, nil, err
	}
	if err := k.require(encryptModes[mode].mech); err != nil {
		return nil, nil, err
	}
	if len(iv) == 0 {
		var err error
		if iv, err = readRandom(rand.Reader, aes.BlockSize); err != nil {
			return nil, nil, err
		}
	}
	ct, err := aesCBC(k.secret, msg, iv, true)
	if err != nil {
		return nil, nil, err
	}
	return ct, iv, nil
}

// aesCBC encrypts or decrypts in without padding.
func aesCBC(key, in, iv []byte, encrypt bool) ([]byte, error) {
	if len(iv) != aes.BlockSize {
		return nil, invalidf("iv is %d bytes, want %d", len(iv), aes.BlockSize)
	}
	if len(in) == 0 || len(in)%aes.BlockSize != 0 {
		return nil, invalidf("input is %d bytes, want a non-empty multiple of %d (no padding is applied)", len(in), aes.BlockSize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, errWrongMaterial
	}
	out := make([]byte, len(in))
	if encrypt {
		cipher.NewCBCEncrypter(block, iv).CryptBlocks(out, in)
	} else {
		cipher.NewCBCDecrypter(block, iv).CryptBlocks(out, in)
	}
	return out, nil
}
