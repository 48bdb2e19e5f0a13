package keys_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"testing"

	"github.com/keywarden/keywarden/appliance/keys"
)

// checkImported checks the invariants of an import's result: a key that
// survives storage, or an error that wraps ErrInvalid or ErrUnsupported.
func checkImported(t *testing.T, k *keys.Key, err error) {
	t.Helper()
	if err != nil {
		if k != nil {
			t.Fatalf("got key %v and error %v", k, err)
		}
		if !errors.Is(err, keys.ErrInvalid) && !errors.Is(err, keys.ErrUnsupported) {
			t.Fatalf("error %v wraps neither ErrInvalid nor ErrUnsupported", err)
		}
		return
	}
	if !k.Type().Supported() || (k.PublicData() == nil) != (k.Type() == keys.TypeGeneric) {
		t.Fatalf("imported key %v has inconsistent public data", k)
	}
	data, err := k.MarshalBinary()
	if err != nil {
		t.Fatalf("MarshalBinary: %v", err)
	}
	var back keys.Key
	if err := back.UnmarshalBinary(data); err != nil || back.Type() != k.Type() {
		t.Fatalf("UnmarshalBinary = %v, %v; want a %s key", back, err, k.Type())
	}
}

func FuzzFromJSON(f *testing.F) {
	orig := mustStdRSA(f)
	p, q := orig.Primes[0].Bytes(), orig.Primes[1].Bytes()
	ec, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	ecData, _ := ec.Bytes()
	f.Add("RSA", "RSA_Signature_PKCS1", b64(p), b64(q), "AQAB", "")
	f.Add("RSA", "RSA_Decryption_RAW", b64(q), b64(p), "Aw==", "")
	f.Add("RSA", "RSA_Signature_PKCS1", "AAAA", "AAAB", "AQAB", "")
	f.Add("EC_P521", "ECDSA_Signature", "", "", "", b64(ecData))
	f.Add("EC_P256", "ECDSA_Signature", "", "", "", "AQ==")
	f.Add("EC_P384", "ECDSA_Signature", "", "", "", "//////////////////////////////////////////////////////////////////8=")
	f.Add("Curve25519", "EdDSA_Signature", "", "", "", b64(make([]byte, 32)))
	f.Add("Generic", "AES_Decryption_CBC", "", "", "", b64(make([]byte, 24)))
	f.Add("EC_P256K1", "BIP340_Signature", "", "", "", "AQ==")
	f.Add("RSA", "ECDSA_Signature", "", "", "", "not base64")
	f.Fuzz(func(t *testing.T, typ, mech, primeP, primeQ, exp, data string) {
		k, err := keys.FromJSON(keys.PrivateJSON{
			Type: keys.Type(typ), Mechanisms: []keys.Mechanism{keys.Mechanism(mech)},
			Private: keys.PrivateData{PrimeP: primeP, PrimeQ: primeQ, PublicExponent: exp, Data: data},
		})
		checkImported(t, k, err)
	})
}

// derSeeds returns DER private keys of every kind, with a mechanism each fits.
func derSeeds(f *testing.F) (ders [][]byte, mechs []string) {
	rsaKey := mustStdRSA(f)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	pk8 := func(k any) []byte { b, _ := x509.MarshalPKCS8PrivateKey(k); return b }
	sec1, _ := x509.MarshalECPrivateKey(ecKey)
	ders = [][]byte{pk8(rsaKey), x509.MarshalPKCS1PrivateKey(rsaKey), pk8(ecKey), sec1, pk8(edKey), []byte("junk")}
	mechs = []string{"RSA_Signature_PKCS1", "RSA_Decryption_PKCS1", "ECDSA_Signature", "ECDSA_Signature", "EdDSA_Signature", "ECDSA_Signature"}
	return ders, mechs
}

func FuzzFromPEM(f *testing.F) {
	ders, mechs := derSeeds(f)
	types := []string{"PRIVATE KEY", "RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY"}
	for i, der := range ders {
		f.Add(pemOf(types[i], der), mechs[i])
	}
	f.Add(append(pemOf("EC PARAMETERS", []byte{6, 1, 0}), pemOf(types[3], ders[3])...), "ECDSA_Signature")
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"), "EdDSA_Signature")
	f.Fuzz(func(t *testing.T, data []byte, mech string) {
		k, err := keys.FromPEM(data, []keys.Mechanism{keys.Mechanism(mech)})
		checkImported(t, k, err)
	})
}

func FuzzFromDER(f *testing.F) {
	ders, mechs := derSeeds(f)
	for i, der := range ders {
		f.Add(der, mechs[i])
	}
	f.Fuzz(func(t *testing.T, der []byte, mech string) {
		k, err := keys.FromDER(der, []keys.Mechanism{keys.Mechanism(mech)})
		checkImported(t, k, err)
	})
}

func FuzzUnmarshalBinary(f *testing.F) {
	for _, k := range []*keys.Key{
		mustGenerate(f, keys.TypeECP384, 0, ecdsaMechs),
		mustGenerate(f, keys.TypeCurve25519, 0, eddsaMechs),
		mustGenerate(f, keys.TypeGeneric, 128, aesMechs),
	} {
		data, err := k.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte{1, 3, 'R', 'S', 'A', 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		var k keys.Key
		if err := k.UnmarshalBinary(data); err != nil {
			checkImported(t, nil, err)
			return
		}
		checkImported(t, &k, nil)
	})
}
