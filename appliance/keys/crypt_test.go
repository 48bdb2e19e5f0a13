package keys_test

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"math/big"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/appliance/keys"
)

// oaepHashes maps the OAEP modes to their hashes.
var oaepHashes = map[keys.DecryptMode]crypto.Hash{
	keys.DecryptOAEPMD5: crypto.MD5, keys.DecryptOAEPSHA1: crypto.SHA1,
	keys.DecryptOAEPSHA224: crypto.SHA224, keys.DecryptOAEPSHA256: crypto.SHA256,
	keys.DecryptOAEPSHA384: crypto.SHA384, keys.DecryptOAEPSHA512: crypto.SHA512,
}

// rsaEncrypt encrypts msg for mode with the standard library's public ops.
func rsaEncrypt(t *testing.T, pub *rsa.PublicKey, mode keys.DecryptMode, msg []byte) []byte {
	t.Helper()
	var ct []byte
	var err error
	switch mode {
	case keys.DecryptRAW:
		m := new(big.Int).SetBytes(msg)
		ct = m.Exp(m, big.NewInt(int64(pub.E)), pub.N).FillBytes(make([]byte, pub.Size()))
	case keys.DecryptPKCS1:
		//lint:ignore SA1019 the mode under test
		ct, err = rsa.EncryptPKCS1v15(rand.Reader, pub, msg)
	default:
		ct, err = rsa.EncryptOAEP(oaepHashes[mode].New(), rand.Reader, pub, msg, nil)
	}
	if err != nil {
		t.Fatalf("encrypt for %s: %v", mode, err)
	}
	return ct
}

func TestDecryptRSA(t *testing.T) {
	modes := []keys.DecryptMode{keys.DecryptRAW, keys.DecryptPKCS1, keys.DecryptOAEPMD5,
		keys.DecryptOAEPSHA1, keys.DecryptOAEPSHA224, keys.DecryptOAEPSHA256,
		keys.DecryptOAEPSHA384, keys.DecryptOAEPSHA512}
	k := sharedRSA(t, 2048)
	pub := rsaPublic(t, k)
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			msg := []byte("the secret session key material")
			want := msg
			if mode == keys.DecryptRAW {
				// RAW returns the full block, left-padded.
				want = append(make([]byte, pub.Size()-len(msg)), msg...)
			}
			got, err := k.Decrypt(mode, rsaEncrypt(t, pub, mode, msg), nil)
			if err != nil {
				t.Fatalf("Decrypt: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Decrypt = %x, want %x", got, want)
			}
		})
	}
}

// RAW must handle every value below n, given in its shortest encoding.
func TestDecryptRAWValues(t *testing.T) {
	k := sharedRSA(t, 1024)
	pub := rsaPublic(t, k)
	nMinus1 := new(big.Int).Sub(pub.N, big.NewInt(1))
	for _, m := range []*big.Int{big.NewInt(0), big.NewInt(1), big.NewInt(2), nMinus1} {
		ct := new(big.Int).Exp(m, big.NewInt(int64(pub.E)), pub.N).Bytes()
		if len(ct) == 0 {
			ct = []byte{0} // minimal encodings; 0 still needs one byte
		}
		got, err := k.Decrypt(keys.DecryptRAW, ct, nil)
		if err != nil {
			t.Fatalf("Decrypt(RAW, %d-byte input): %v", len(ct), err)
		}
		if want := m.FillBytes(make([]byte, pub.Size())); !bytes.Equal(got, want) {
			t.Errorf("Decrypt(RAW) = %x, want %x", got, want)
		}
	}
}

func TestDecryptErrors(t *testing.T) {
	k := sharedRSA(t, 1024)
	pub := rsaPublic(t, k)
	signOnly := mustGenerate(t, keys.TypeRSA, 1024, []keys.Mechanism{keys.MechRSASignaturePKCS1})
	aesEncOnly := mustGenerate(t, keys.TypeGeneric, 128, aesMechs[:1])
	aes := mustGenerate(t, keys.TypeGeneric, 128, aesMechs)
	iv := make([]byte, 16)
	tests := []struct {
		name   string
		key    *keys.Key
		mode   keys.DecryptMode
		ct, iv []byte
		want   error
		text   string
	}{
		{"unknown mode", k, "OAEP", make([]byte, 128), nil, keys.ErrInvalid, `"OAEP"`},
		{"missing mechanism", signOnly, keys.DecryptPKCS1, make([]byte, 128), nil, keys.ErrNotPermitted, "RSA_Decryption_PKCS1"},
		{"aes mode on rsa", k, keys.DecryptAESCBC, make([]byte, 16), iv, keys.ErrNotPermitted, "AES_Decryption_CBC"},
		{"rsa mode on aes", aes, keys.DecryptRAW, make([]byte, 16), nil, keys.ErrNotPermitted, "RSA_Decryption_RAW"},
		{"aes decrypt not allowed", aesEncOnly, keys.DecryptAESCBC, make([]byte, 16), iv, keys.ErrNotPermitted, "AES_Decryption_CBC"},
		{"empty", k, keys.DecryptOAEPSHA256, nil, nil, keys.ErrInvalid, "empty"},
		{"longer than modulus", k, keys.DecryptPKCS1, make([]byte, 129), nil, keys.ErrInvalid, "longer than the 128-byte modulus"},
		{"raw longer than modulus", k, keys.DecryptRAW, make([]byte, 129), nil, keys.ErrInvalid, "longer than"},
		{"raw not below modulus", k, keys.DecryptRAW, pub.N.Bytes(), nil, keys.ErrInvalid, "not below the modulus"},
		{"pkcs1 bad padding", k, keys.DecryptPKCS1, bytes.Repeat([]byte{1}, 128), nil, keys.ErrInvalid, "decryption failed"},
		{"oaep bad padding", k, keys.DecryptOAEPSHA1, bytes.Repeat([]byte{1}, 128), nil, keys.ErrInvalid, "decryption failed"},
		{"oaep wrong hash", k, keys.DecryptOAEPSHA256, rsaEncrypt(t, pub, keys.DecryptOAEPSHA1, []byte("x")), nil, keys.ErrInvalid, "decryption failed"},
		{"oaep key too small", k, keys.DecryptOAEPSHA512, make([]byte, 128), nil, keys.ErrInvalid, "too small"},
		{"aes no iv", aes, keys.DecryptAESCBC, make([]byte, 16), nil, keys.ErrInvalid, "iv is 0 bytes"},
		{"aes short iv", aes, keys.DecryptAESCBC, make([]byte, 16), make([]byte, 12), keys.ErrInvalid, "iv is 12 bytes"},
		{"aes not block multiple", aes, keys.DecryptAESCBC, make([]byte, 17), iv, keys.ErrInvalid, "multiple of 16"},
		{"aes empty", aes, keys.DecryptAESCBC, nil, iv, keys.ErrInvalid, "input is 0 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt, err := tt.key.Decrypt(tt.mode, tt.ct, tt.iv)
			checkErr(t, err, tt.want)
			if pt != nil {
				t.Errorf("got plaintext %x with the error, want nil", pt)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not mention %q", err, tt.text)
			}
		})
	}
}

// NIST SP 800-38A, F.2.1/F.2.2 (CBC-AES128), first two blocks.
func TestAESCBCKnownAnswer(t *testing.T) {
	key := mustHex(t, "2b7e151628aed2a6abf7158809cf4f3c")
	iv := mustHex(t, "000102030405060708090a0b0c0d0e0f")
	pt := mustHex(t, "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51")
	ct := mustHex(t, "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2")
	k := importAES(t, key)
	got, gotIV, err := k.Encrypt(keys.EncryptAESCBC, pt, iv)
	if err != nil || !bytes.Equal(got, ct) || !bytes.Equal(gotIV, iv) {
		t.Fatalf("Encrypt = %x, %x, %v; want %x, %x, nil", got, gotIV, err, ct, iv)
	}
	got, err = k.Decrypt(keys.DecryptAESCBC, ct, iv)
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("Decrypt = %x, %v; want %x, nil", got, err, pt)
	}
}

func TestEncryptDecryptAES(t *testing.T) {
	for _, bits := range []int{128, 192, 256} {
		t.Run(big.NewInt(int64(bits)).String(), func(t *testing.T) {
			k := mustGenerate(t, keys.TypeGeneric, bits, aesMechs)
			msg := bytes.Repeat([]byte("0123456789abcdef"), 3)
			ct1, iv1, err := k.Encrypt(keys.EncryptAESCBC, msg, nil)
			if err != nil {
				t.Fatal(err)
			}
			ct2, iv2, err := k.Encrypt(keys.EncryptAESCBC, msg, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(iv1) != 16 || bytes.Equal(iv1, iv2) || bytes.Equal(ct1, ct2) {
				t.Errorf("random ivs %x and %x: want two different 16-byte ivs and ciphertexts", iv1, iv2)
			}
			got, err := k.Decrypt(keys.DecryptAESCBC, ct1, iv1)
			if err != nil || !bytes.Equal(got, msg) {
				t.Errorf("Decrypt = %q, %v; want %q, nil", got, err, msg)
			}
		})
	}
}

func TestEncryptErrors(t *testing.T) {
	aes := mustGenerate(t, keys.TypeGeneric, 256, aesMechs)
	decOnly := mustGenerate(t, keys.TypeGeneric, 256, aesMechs[1:])
	tests := []struct {
		name    string
		key     *keys.Key
		mode    keys.EncryptMode
		msg, iv []byte
		want    error
		text    string
	}{
		{"unknown mode", aes, "AES_GCM", make([]byte, 16), nil, keys.ErrInvalid, `"AES_GCM"`},
		{"missing mechanism", decOnly, keys.EncryptAESCBC, make([]byte, 16), nil, keys.ErrNotPermitted, "AES_Encryption_CBC"},
		{"rsa key", sharedRSA(t, 1024), keys.EncryptAESCBC, make([]byte, 16), nil, keys.ErrNotPermitted, "AES_Encryption_CBC"},
		{"bad iv", aes, keys.EncryptAESCBC, make([]byte, 16), make([]byte, 8), keys.ErrInvalid, "iv is 8 bytes"},
		{"not block multiple", aes, keys.EncryptAESCBC, make([]byte, 15), nil, keys.ErrInvalid, "multiple of 16"},
		{"empty", aes, keys.EncryptAESCBC, nil, nil, keys.ErrInvalid, "non-empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct, iv, err := tt.key.Encrypt(tt.mode, tt.msg, tt.iv)
			checkErr(t, err, tt.want)
			if ct != nil || iv != nil {
				t.Errorf("got %x, %x with the error, want nil", ct, iv)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not mention %q", err, tt.text)
			}
		})
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
