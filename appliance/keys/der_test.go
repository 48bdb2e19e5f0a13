package keys_test

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/appliance/keys"
)

// encoded is one private key in one encoding, with what it should import as.
type encoded struct {
	name    string
	pemType string
	der     []byte
	typ     keys.Type
	mechs   []keys.Mechanism
	pub     crypto.PublicKey
}

// encodings returns every supported key type in every encoding FromPEM and
// FromDER accept.
func encodings(t *testing.T) []encoded {
	t.Helper()
	must := func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	rsaKey := mustStdRSA(t)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	out := []encoded{
		{"pkcs8 rsa", "PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(rsaKey)), keys.TypeRSA, rsaSignMechs, rsaKey.Public()},
		{"pkcs1 rsa", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey), keys.TypeRSA, rsaSignMechs, rsaKey.Public()},
		{"pkcs8 ed25519", "PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(edKey)), keys.TypeCurve25519, eddsaMechs, edKey.Public()},
	}
	for _, c := range []struct {
		typ   keys.Type
		curve elliptic.Curve
	}{{keys.TypeECP256, elliptic.P256()}, {keys.TypeECP384, elliptic.P384()}, {keys.TypeECP521, elliptic.P521()}} {
		ecKey, err := ecdsa.GenerateKey(c.curve, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out,
			encoded{"pkcs8 " + string(c.typ), "PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(ecKey)), c.typ, ecdsaMechs, ecKey.Public()},
			encoded{"sec1 " + string(c.typ), "EC PRIVATE KEY", must(x509.MarshalECPrivateKey(ecKey)), c.typ, ecdsaMechs, ecKey.Public()})
	}
	return out
}

func pemOf(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestFromPEMAndDER(t *testing.T) {
	for _, e := range encodings(t) {
		t.Run(e.name, func(t *testing.T) {
			// Text around the block, as openssl writes it, is ignored.
			withText := append([]byte("Bag Attributes\n    localKeyID: 01\n"), pemOf(e.pemType, e.der)...)
			fromPEM, err := keys.FromPEM(withText, e.mechs)
			if err != nil {
				t.Fatalf("FromPEM: %v", err)
			}
			fromDER, err := keys.FromDER(e.der, e.mechs)
			if err != nil {
				t.Fatalf("FromDER: %v", err)
			}
			for _, k := range []*keys.Key{fromPEM, fromDER} {
				if k.Type() != e.typ {
					t.Errorf("Type() = %s, want %s", k.Type(), e.typ)
				}
				if !samePublic(k.Public(), e.pub) {
					t.Errorf("public key differs from the encoded key's")
				}
				checkSignVerify(t, k, signModeFor(e.typ))
			}
		})
	}
}

// signModeFor returns a sign mode every test key of type t allows.
func signModeFor(t keys.Type) keys.SignMode {
	switch t {
	case keys.TypeRSA:
		return keys.SignPKCS1
	case keys.TypeCurve25519:
		return keys.SignEdDSA
	}
	return keys.SignECDSA
}

func TestFromPEMErrors(t *testing.T) {
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sec1, _ := x509.MarshalECPrivateKey(ecKey)
	params, _ := asn1.Marshal(asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7})
	rsaPKCS1 := x509.MarshalPKCS1PrivateKey(mustStdRSA(t))
	encrypted := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY",
		Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00"}, Bytes: rsaPKCS1})
	type pemCase struct {
		name  string
		pem   []byte
		mechs []keys.Mechanism
		want  error
		text  string
	}
	tests := []pemCase{
		{"empty", nil, ecdsaMechs, keys.ErrInvalid, "no PEM block"},
		{"not pem", []byte("hello"), ecdsaMechs, keys.ErrInvalid, "no PEM block"},
		{"ec parameters first", append(pemOf("EC PARAMETERS", params), pemOf("EC PRIVATE KEY", sec1)...), ecdsaMechs,
			keys.ErrInvalid, "found 2 PEM blocks (EC PARAMETERS, EC PRIVATE KEY)"},
		{"two keys", append(pemOf("EC PRIVATE KEY", sec1), pemOf("EC PRIVATE KEY", sec1)...), ecdsaMechs, keys.ErrInvalid, "found 2"},
		{"legacy encrypted", encrypted, rsaSignMechs, keys.ErrUnsupported, "encrypted"},
		{"pkcs8 encrypted", pemOf("ENCRYPTED PRIVATE KEY", []byte{0x30, 0}), rsaSignMechs, keys.ErrUnsupported, "encrypted"},
		{"public key", pemOf("PUBLIC KEY", []byte{0x30, 0}), rsaSignMechs, keys.ErrInvalid, `"PUBLIC KEY" is not a private key`},
		{"garbage pkcs8", pemOf("PRIVATE KEY", []byte("junk")), rsaSignMechs, keys.ErrInvalid, "PRIVATE KEY block"},
		{"sec1 labelled rsa", pemOf("RSA PRIVATE KEY", sec1), ecdsaMechs, keys.ErrInvalid, "RSA PRIVATE KEY block"},
		{"wrong mechanism", pemOf("RSA PRIVATE KEY", rsaPKCS1), ecdsaMechs, keys.ErrInvalid, "ECDSA_Signature is not valid for RSA"},
		{"no mechanism", pemOf("EC PRIVATE KEY", sec1), nil, keys.ErrInvalid, "at least one"},
		{"rsa 512", pemOf("RSA PRIVATE KEY", smallRSA(t)), rsaSignMechs, keys.ErrInvalid, "512 bits is outside"},
	}
	for _, u := range unsupportedDER(t) {
		tests = append(tests, pemCase{u.name, pemOf(u.pemType, u.der), ecdsaMechs, keys.ErrUnsupported, u.text})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := keys.FromPEM(tt.pem, tt.mechs)
			checkErr(t, err, tt.want)
			if k != nil {
				t.Errorf("got key %v with the error, want nil", k)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not mention %q", err, tt.text)
			}
		})
	}
}

func TestFromDERErrors(t *testing.T) {
	type tc struct {
		name string
		der  []byte
		want error
		text string
	}
	tests := []tc{
		{"empty", nil, keys.ErrInvalid, "not a PKCS#8, PKCS#1 RSA or SEC1"},
		{"garbage", []byte("junk"), keys.ErrInvalid, "not a PKCS#8"},
		{"pem instead of der", pemOf("EC PRIVATE KEY", []byte{1}), keys.ErrInvalid, "not a PKCS#8"},
		{"rsa 512", smallRSA(t), keys.ErrInvalid, "outside 1024..8192"},
	}
	for _, u := range unsupportedDER(t) {
		tests = append(tests, tc{u.name, u.der, keys.ErrUnsupported, u.text})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := keys.FromDER(tt.der, ecdsaMechs)
			checkErr(t, err, tt.want)
			if k != nil {
				t.Errorf("got key %v with the error, want nil", k)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not mention %q", err, tt.text)
			}
		})
	}
}

// badDER is a well-formed private key we do not support, with the words its
// error must contain.
type badDER struct {
	name, pemType, text string
	der                 []byte
}

// unsupportedDER returns private keys of algorithms and curves that other
// tools produce but we do not support.
func unsupportedDER(t *testing.T) []badDER {
	t.Helper()
	x, _ := ecdh.X25519().GenerateKey(rand.Reader)
	x25519, err := x509.MarshalPKCS8PrivateKey(x)
	if err != nil {
		t.Fatal(err)
	}
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	p224SEC1, _ := x509.MarshalECPrivateKey(p224)
	secp256k1 := asn1.ObjectIdentifier{1, 3, 132, 0, 10}
	brainpool := asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 7}
	return []badDER{
		{"x25519 pkcs8", "PRIVATE KEY", "X25519", x25519},
		{"p224 sec1", "EC PRIVATE KEY", "P-224", p224SEC1},
		{"secp256k1 sec1", "EC PRIVATE KEY", "secp256k1 (EC_P256K1)", sec1With(t, secp256k1)},
		{"brainpool pkcs8", "PRIVATE KEY", "brainpoolP256r1 (BrainpoolP256)", pkcs8EC(t, brainpool)},
		{"secp256k1 pkcs8", "PRIVATE KEY", "secp256k1", pkcs8EC(t, secp256k1)},
	}
}

// sec1With encodes a SEC1 ECPrivateKey naming the given curve.
func sec1With(t *testing.T, curve asn1.ObjectIdentifier) []byte {
	t.Helper()
	der, err := asn1.Marshal(struct {
		Version    int
		PrivateKey []byte
		Curve      asn1.ObjectIdentifier `asn1:"optional,explicit,tag:0"`
	}{1, make([]byte, 32), curve})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// pkcs8EC encodes a PKCS#8 id-ecPublicKey private key on the given curve.
func pkcs8EC(t *testing.T, curve asn1.ObjectIdentifier) []byte {
	t.Helper()
	params, _ := asn1.Marshal(curve)
	der, err := asn1.Marshal(struct {
		Version    int
		Algo       pkix.AlgorithmIdentifier
		PrivateKey []byte
	}{0, pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1},
		Parameters: asn1.RawValue{FullBytes: params}}, sec1With(t, nil)})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// smallRSA returns a consistent 512-bit PKCS#1 RSA key, which the standard
// library no longer generates.
func smallRSA(t *testing.T) []byte {
	t.Helper()
	e := big.NewInt(65537)
	for {
		p, q := mustPrime(t, 256, nil), mustPrime(t, 256, nil)
		lambda := new(big.Int).Mul(new(big.Int).Sub(p, big.NewInt(1)), new(big.Int).Sub(q, big.NewInt(1)))
		d := new(big.Int).ModInverse(e, lambda)
		if d == nil || p.Cmp(q) == 0 {
			continue
		}
		priv := &rsa.PrivateKey{PublicKey: rsa.PublicKey{N: new(big.Int).Mul(p, q), E: 65537}, D: d, Primes: []*big.Int{p, q}}
		priv.Precompute()
		return x509.MarshalPKCS1PrivateKey(priv)
	}
}
