package keys_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/appliance/keys"
)

// digestInfoSHA256 is the DER DigestInfo prefix for SHA-256 (RFC 8017, 9.2).
var digestInfoSHA256 = []byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
	0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}

// pssHashes maps the PSS modes to their hashes.
var pssHashes = map[keys.SignMode]crypto.Hash{
	keys.SignPSSMD5: crypto.MD5, keys.SignPSSSHA1: crypto.SHA1, keys.SignPSSSHA224: crypto.SHA224,
	keys.SignPSSSHA256: crypto.SHA256, keys.SignPSSSHA384: crypto.SHA384, keys.SignPSSSHA512: crypto.SHA512,
}

// checkSignVerify signs a message fit for mode with k and verifies the
// signature with the standard library and k's public key.
func checkSignVerify(t *testing.T, k *keys.Key, mode keys.SignMode) {
	t.Helper()
	data := []byte("keywarden signs this")
	var msg []byte
	var verify func(sig []byte) error
	switch pub := k.Public().(type) {
	case *rsa.PublicKey:
		if mode == keys.SignPKCS1 {
			h := sha256.Sum256(data)
			msg = append(append([]byte{}, digestInfoSHA256...), h[:]...)
			verify = func(sig []byte) error { return rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig) }
			break
		}
		hash := pssHashes[mode]
		msg = hash.New().Sum(data)[len(data):]
		opts := &rsa.PSSOptions{SaltLength: hash.Size()}
		verify = func(sig []byte) error { return rsa.VerifyPSS(pub, hash, msg, sig, opts) }
	case *ecdsa.PublicKey:
		hash := map[int]crypto.Hash{256: crypto.SHA256, 384: crypto.SHA384, 521: crypto.SHA512}[pub.Curve.Params().BitSize]
		msg = hash.New().Sum(data)[len(data):]
		verify = func(sig []byte) error {
			if !ecdsa.VerifyASN1(pub, msg, sig) {
				return rsa.ErrVerification
			}
			return nil
		}
	case ed25519.PublicKey:
		msg = data
		verify = func(sig []byte) error {
			if len(sig) != ed25519.SignatureSize || !ed25519.Verify(pub, data, sig) {
				return rsa.ErrVerification
			}
			return nil
		}
	default:
		t.Fatalf("Public() is %T", pub)
	}
	sig, err := k.Sign(mode, msg)
	if err != nil {
		t.Fatalf("Sign(%s): %v", mode, err)
	}
	if err := verify(sig); err != nil {
		t.Fatalf("Sign(%s): signature does not verify: %v", mode, err)
	}
}

func TestSignVerify(t *testing.T) {
	tests := []struct {
		name  string
		key   func(t *testing.T) *keys.Key
		modes []keys.SignMode
	}{
		{"rsa2048", func(t *testing.T) *keys.Key { return sharedRSA(t, 2048) },
			[]keys.SignMode{keys.SignPKCS1, keys.SignPSSMD5, keys.SignPSSSHA1, keys.SignPSSSHA224,
				keys.SignPSSSHA256, keys.SignPSSSHA384, keys.SignPSSSHA512}},
		{"p256", func(t *testing.T) *keys.Key { return mustGenerate(t, keys.TypeECP256, 0, ecdsaMechs) },
			[]keys.SignMode{keys.SignECDSA}},
		{"p384", func(t *testing.T) *keys.Key { return mustGenerate(t, keys.TypeECP384, 0, ecdsaMechs) },
			[]keys.SignMode{keys.SignECDSA}},
		{"p521", func(t *testing.T) *keys.Key { return mustGenerate(t, keys.TypeECP521, 0, ecdsaMechs) },
			[]keys.SignMode{keys.SignECDSA}},
		{"curve25519", func(t *testing.T) *keys.Key { return mustGenerate(t, keys.TypeCurve25519, 0, eddsaMechs) },
			[]keys.SignMode{keys.SignEdDSA}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := tt.key(t)
			for _, mode := range tt.modes {
				t.Run(string(mode), func(t *testing.T) { checkSignVerify(t, k, mode) })
			}
		})
	}
}

// ECDSA takes up to the order's size in bytes, so P-521 takes 66 bytes.
func TestSignECDSAInputSizes(t *testing.T) {
	tests := []struct {
		typ  keys.Type
		len  int
		want error
	}{
		{keys.TypeECP256, 20, nil}, {keys.TypeECP256, 32, nil}, {keys.TypeECP256, 33, keys.ErrInvalid},
		{keys.TypeECP384, 48, nil}, {keys.TypeECP384, 49, keys.ErrInvalid},
		{keys.TypeECP521, 64, nil}, {keys.TypeECP521, 66, nil}, {keys.TypeECP521, 67, keys.ErrInvalid},
		{keys.TypeECP256, 0, keys.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(string(tt.typ), func(t *testing.T) {
			k := mustGenerate(t, tt.typ, 0, ecdsaMechs)
			msg := []byte(strings.Repeat("\x5a", tt.len))
			sig, err := k.Sign(keys.SignECDSA, msg)
			checkErr(t, err, tt.want)
			if err == nil && !ecdsa.VerifyASN1(k.Public().(*ecdsa.PublicKey), msg, sig) {
				t.Errorf("signature over %d bytes does not verify", tt.len)
			}
		})
	}
}

func TestSignErrors(t *testing.T) {
	rsaPKCS1 := mustGenerate(t, keys.TypeRSA, 1024, []keys.Mechanism{keys.MechRSASignaturePKCS1})
	p256 := mustGenerate(t, keys.TypeECP256, 0, ecdsaMechs)
	aes := mustGenerate(t, keys.TypeGeneric, 128, aesMechs)
	tests := []struct {
		name string
		key  *keys.Key
		mode keys.SignMode
		msg  []byte
		want error
		text string
	}{
		{"unknown mode", p256, "ECDSA_SHA256", make([]byte, 32), keys.ErrInvalid, `"ECDSA_SHA256"`},
		{"bip340", p256, keys.SignBIP340, make([]byte, 32), keys.ErrUnsupported, "BIP340"},
		{"missing mechanism", rsaPKCS1, keys.SignPSSSHA256, make([]byte, 32), keys.ErrNotPermitted, "RSA_Signature_PSS_SHA256"},
		{"mode of other type", rsaPKCS1, keys.SignECDSA, make([]byte, 32), keys.ErrNotPermitted, "ECDSA_Signature"},
		{"eddsa on ec", p256, keys.SignEdDSA, []byte("x"), keys.ErrNotPermitted, "EdDSA_Signature"},
		{"sign with aes", aes, keys.SignPKCS1, []byte("x"), keys.ErrNotPermitted, "RSA_Signature_PKCS1"},
		{"zero key", &keys.Key{}, keys.SignEdDSA, []byte("x"), keys.ErrNotPermitted, "EdDSA_Signature"},
		{"pkcs1 empty", rsaPKCS1, keys.SignPKCS1, nil, keys.ErrInvalid, "empty"},
		{"pkcs1 too long", rsaPKCS1, keys.SignPKCS1, make([]byte, 128-10), keys.ErrInvalid, "longer than 117"},
		{"pss short hash", sharedRSA(t, 1024), keys.SignPSSSHA256, make([]byte, 31), keys.ErrInvalid, "want 32"},
		{"pss long hash", sharedRSA(t, 1024), keys.SignPSSSHA1, make([]byte, 32), keys.ErrInvalid, "want 20"},
		{"pss key too small", sharedRSA(t, 1024), keys.SignPSSSHA512, make([]byte, 64), keys.ErrInvalid, "too small"},
		{"ecdsa message not hash", p256, keys.SignECDSA, make([]byte, 100), keys.ErrInvalid, "send the hash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig, err := tt.key.Sign(tt.mode, tt.msg)
			checkErr(t, err, tt.want)
			if sig != nil {
				t.Errorf("got signature %x with the error, want nil", sig)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not mention %q", err, tt.text)
			}
		})
	}
}

// The PKCS1 mode signs exactly the given bytes: a message without DigestInfo
// must verify as a raw (hash 0) PKCS#1 v1.5 signature.
func TestSignPKCS1NoDigestInfoAdded(t *testing.T) {
	k := sharedRSA(t, 1024)
	msg := []byte("any bytes at all")
	sig, err := k.Sign(keys.SignPKCS1, msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPKCS1v15(rsaPublic(t, k), 0, msg, sig); err != nil {
		t.Fatalf("signature is not over the raw message: %v", err)
	}
}

// Keys are shared by all request handlers; run with -race to check.
func TestSignConcurrent(t *testing.T) {
	k := sharedRSA(t, 1024)
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			h := sha256.Sum256([]byte("concurrent"))
			_, err := k.Sign(keys.SignPSSSHA256, h[:])
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Errorf("Sign: %v", err)
		}
	}
}
