package keys_test

import (
	"crypto"
	"crypto/rsa"
	"errors"
	"sync"
	"testing"

	"github.com/keywarden/keywarden/appliance/keys"
)

// Mechanism sets used by the tests.
var (
	rsaSignMechs = []keys.Mechanism{
		keys.MechRSASignaturePKCS1, keys.MechRSASignaturePSSMD5, keys.MechRSASignaturePSSSHA1,
		keys.MechRSASignaturePSSSHA224, keys.MechRSASignaturePSSSHA256,
		keys.MechRSASignaturePSSSHA384, keys.MechRSASignaturePSSSHA512,
	}
	rsaDecryptMechs = []keys.Mechanism{
		keys.MechRSADecryptionRAW, keys.MechRSADecryptionPKCS1, keys.MechRSADecryptionOAEPMD5,
		keys.MechRSADecryptionOAEPSHA1, keys.MechRSADecryptionOAEPSHA224,
		keys.MechRSADecryptionOAEPSHA256, keys.MechRSADecryptionOAEPSHA384,
		keys.MechRSADecryptionOAEPSHA512,
	}
	rsaAllMechs = append(append([]keys.Mechanism{}, rsaSignMechs...), rsaDecryptMechs...)
	ecdsaMechs  = []keys.Mechanism{keys.MechECDSASignature}
	eddsaMechs  = []keys.Mechanism{keys.MechEdDSASignature}
	aesMechs    = []keys.Mechanism{keys.MechAESEncryptionCBC, keys.MechAESDecryptionCBC}
)

// RSA keys are slow to generate, so the tests share one per size.
var (
	rsa1024 = sync.OnceValues(func() (*keys.Key, error) { return keys.Generate(nil, keys.TypeRSA, 1024, rsaAllMechs) })
	rsa2048 = sync.OnceValues(func() (*keys.Key, error) { return keys.Generate(nil, keys.TypeRSA, 2048, rsaAllMechs) })
)

// sharedRSA returns the shared RSA key of the given size.
func sharedRSA(t testing.TB, bits int) *keys.Key {
	t.Helper()
	gen := rsa2048
	if bits == 1024 {
		gen = rsa1024
	}
	k, err := gen()
	if err != nil {
		t.Fatalf("generate RSA %d: %v", bits, err)
	}
	return k
}

// mustGenerate generates a key or fails the test.
func mustGenerate(t testing.TB, typ keys.Type, bits int, mechs []keys.Mechanism) *keys.Key {
	t.Helper()
	k, err := keys.Generate(nil, typ, bits, mechs)
	if err != nil {
		t.Fatalf("Generate(%s, %d): %v", typ, bits, err)
	}
	return k
}

// rsaPublic returns the key's RSA public key or fails the test.
func rsaPublic(t testing.TB, k *keys.Key) *rsa.PublicKey {
	t.Helper()
	pub, ok := k.Public().(*rsa.PublicKey)
	if !ok {
		t.Fatalf("Public() is %T, want *rsa.PublicKey", k.Public())
	}
	return pub
}

// checkErr fails the test unless err wraps want (nil means no error).
func checkErr(t testing.TB, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("got error %v, want none", err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("got error %v, want one wrapping %v", err, want)
	}
}

// samePublic reports whether two public keys of the standard library are equal.
func samePublic(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}
