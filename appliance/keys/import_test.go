package keys_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"sync"
	"testing"

	"github.com/keywarden/keywarden/appliance/keys"
)

var b64 = base64.StdEncoding.EncodeToString

// stdRSA1024 is one RSA key made by the standard library, shared because
// generation is slow.
var stdRSA1024 = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 1024) })

func mustStdRSA(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	priv, err := stdRSA1024()
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

func rsaJSON(p, q *big.Int, e int) keys.PrivateJSON {
	return keys.PrivateJSON{Type: keys.TypeRSA, Mechanisms: rsaAllMechs, Private: keys.PrivateData{
		PrimeP: b64(p.Bytes()), PrimeQ: b64(q.Bytes()), PublicExponent: b64(big.NewInt(int64(e)).Bytes()),
	}}
}

func TestFromJSONRSA(t *testing.T) {
	orig := mustStdRSA(t)
	p, q := orig.Primes[0], orig.Primes[1]
	withZero := func(x *big.Int) string { return b64(append([]byte{0}, x.Bytes()...)) }
	tests := []struct {
		name string
		in   keys.PrivateJSON
	}{
		{"p q e", rsaJSON(p, q, orig.E)},
		{"q p e", rsaJSON(q, p, orig.E)},
		{"leading zero bytes", keys.PrivateJSON{Type: keys.TypeRSA, Mechanisms: rsaAllMechs, Private: keys.PrivateData{
			PrimeP: withZero(p), PrimeQ: withZero(q), PublicExponent: "AAEAAQ==",
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := keys.FromJSON(tt.in)
			if err != nil {
				t.Fatalf("FromJSON: %v", err)
			}
			pd := k.PublicData()
			if !bytes.Equal(pd.Modulus, orig.N.Bytes()) || !bytes.Equal(pd.PublicExponent, []byte{1, 0, 1}) {
				t.Fatalf("PublicData = %x/%x, want %x/010001", pd.Modulus, pd.PublicExponent, orig.N.Bytes())
			}
			h := sha256.Sum256([]byte("imported"))
			sig, err := k.Sign(keys.SignPSSSHA256, h[:])
			if err != nil {
				t.Fatal(err)
			}
			if err := rsa.VerifyPSS(&orig.PublicKey, crypto.SHA256, h[:], sig, nil); err != nil {
				t.Errorf("signature of the imported key does not verify with the original: %v", err)
			}
			ct, _ := rsa.EncryptOAEP(sha256.New(), rand.Reader, &orig.PublicKey, []byte("hi"), nil)
			if pt, err := k.Decrypt(keys.DecryptOAEPSHA256, ct, nil); err != nil || string(pt) != "hi" {
				t.Errorf("Decrypt = %q, %v; want \"hi\", nil", pt, err)
			}
		})
	}
}

func TestFromJSONEC(t *testing.T) {
	for _, tt := range []struct {
		typ   keys.Type
		curve elliptic.Curve
	}{{keys.TypeECP256, elliptic.P256()}, {keys.TypeECP384, elliptic.P384()}, {keys.TypeECP521, elliptic.P521()}} {
		t.Run(string(tt.typ), func(t *testing.T) {
			orig, err := ecdsa.GenerateKey(tt.curve, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			d, _ := orig.Bytes()
			k, err := keys.FromJSON(keys.PrivateJSON{Type: tt.typ, Mechanisms: ecdsaMechs, Private: keys.PrivateData{Data: b64(d)}})
			if err != nil {
				t.Fatalf("FromJSON: %v", err)
			}
			wantPub, _ := orig.PublicKey.Bytes()
			if got := k.PublicData().Data; !bytes.Equal(got, wantPub) {
				t.Errorf("PublicData().Data = %x, want %x", got, wantPub)
			}
			digest := make([]byte, 32)
			sig, err := k.Sign(keys.SignECDSA, digest)
			if err != nil || !ecdsa.VerifyASN1(&orig.PublicKey, digest, sig) {
				t.Errorf("signature does not verify with the original key (err %v)", err)
			}
		})
	}
}

// Short scalars are left-padded: the scalar 1 gives the generator, with or
// without an extra leading zero byte.
func TestFromJSONECShortScalar(t *testing.T) {
	params := elliptic.P384().Params()
	want := append([]byte{4}, append(params.Gx.FillBytes(make([]byte, 48)), params.Gy.FillBytes(make([]byte, 48))...)...)
	for _, data := range [][]byte{{1}, {0, 1}, append(make([]byte, 48), 1)} {
		k, err := keys.FromJSON(keys.PrivateJSON{Type: keys.TypeECP384, Mechanisms: ecdsaMechs,
			Private: keys.PrivateData{Data: b64(data)}})
		if err != nil {
			t.Fatalf("FromJSON(%x): %v", data, err)
		}
		if got := k.PublicData().Data; !bytes.Equal(got, want) {
			t.Errorf("FromJSON(%x): public key %x, want the generator %x", data, got, want)
		}
	}
}

// RFC 8032, section 7.1, TEST 1.
func TestFromJSONCurve25519(t *testing.T) {
	seed := mustHex(t, "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
	pub := mustHex(t, "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
	sig := mustHex(t, "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
	k, err := keys.FromJSON(keys.PrivateJSON{Type: keys.TypeCurve25519, Mechanisms: eddsaMechs,
		Private: keys.PrivateData{Data: b64(seed)}})
	if err != nil {
		t.Fatal(err)
	}
	if got := k.PublicData().Data; !bytes.Equal(got, pub) {
		t.Errorf("public key %x, want %x", got, pub)
	}
	if got, err := k.Sign(keys.SignEdDSA, nil); err != nil || !bytes.Equal(got, sig) {
		t.Errorf("Sign = %x, %v; want %x, nil", got, err, sig)
	}
}

// The struct decodes from an API request body; restrictions and label are
// the API layer's business and are ignored here.
func TestPrivateJSONDecodesAPIBody(t *testing.T) {
	body := `{"type":"Generic","mechanisms":["AES_Encryption_CBC"],"private":{"data":"` +
		b64(make([]byte, 32)) + `"},"restrictions":{"tags":["berlin"]},"label":"x"}`
	var p keys.PrivateJSON
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatal(err)
	}
	k, err := keys.FromJSON(p)
	if err != nil {
		t.Fatal(err)
	}
	if k.Type() != keys.TypeGeneric || !k.HasMechanism(keys.MechAESEncryptionCBC) {
		t.Errorf("got %v, want a Generic key with AES_Encryption_CBC", k)
	}
}

// importAES imports a Generic key with both AES mechanisms.
func importAES(t *testing.T, key []byte) *keys.Key {
	t.Helper()
	k, err := keys.FromJSON(keys.PrivateJSON{Type: keys.TypeGeneric, Mechanisms: aesMechs,
		Private: keys.PrivateData{Data: b64(key)}})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestFromJSONErrors(t *testing.T) {
	orig := mustStdRSA(t)
	p, q, e := orig.Primes[0], orig.Primes[1], orig.E
	three := big.NewInt(3)
	pSmall, qSmall := mustPrime(t, 256, nil), mustPrime(t, 256, nil)
	p1mod3 := mustPrime(t, 512, func(x *big.Int) bool { return new(big.Int).Mod(x, three).Int64() == 1 })
	q512 := mustPrime(t, 512, nil)
	pNext := nextPrime(q512)
	ec := func(typ keys.Type, data []byte) keys.PrivateJSON {
		return keys.PrivateJSON{Type: typ, Mechanisms: ecdsaMechs, Private: keys.PrivateData{Data: b64(data)}}
	}
	p256Order := elliptic.P256().Params().N.Bytes()
	tests := []struct {
		name string
		in   keys.PrivateJSON
		want error
		text string
	}{
		{"unknown type", keys.PrivateJSON{Type: "AES", Mechanisms: aesMechs}, keys.ErrInvalid, `"AES"`},
		{"secp256k1", ec(keys.TypeECP256K1, make([]byte, 32)), keys.ErrUnsupported, "EC_P256K1"},
		{"brainpool", ec(keys.TypeBrainpoolP384, make([]byte, 48)), keys.ErrUnsupported, "BrainpoolP384"},
		{"no mechanisms", keys.PrivateJSON{Type: keys.TypeECP256, Private: keys.PrivateData{Data: "AQ=="}}, keys.ErrInvalid, "at least one"},
		{"wrong mechanism", keys.PrivateJSON{Type: keys.TypeECP256, Mechanisms: eddsaMechs, Private: keys.PrivateData{Data: "AQ=="}}, keys.ErrInvalid, "EdDSA_Signature is not valid for EC_P256"},
		{"rsa missing primeQ", keys.PrivateJSON{Type: keys.TypeRSA, Mechanisms: rsaAllMechs, Private: keys.PrivateData{PrimeP: b64(p.Bytes()), PublicExponent: "AQAB"}}, keys.ErrInvalid, "private.primeQ is required"},
		{"rsa bad base64", keys.PrivateJSON{Type: keys.TypeRSA, Mechanisms: rsaAllMechs, Private: keys.PrivateData{PrimeP: "not base64!", PrimeQ: "AQ==", PublicExponent: "AQAB"}}, keys.ErrInvalid, "private.primeP is not valid base64"},
		{"rsa with data", withData(rsaJSON(p, q, e), "AQ=="), keys.ErrInvalid, "private.data is not used"},
		{"rsa p equals q", rsaJSON(p, p, e), keys.ErrInvalid, "equal"},
		{"rsa p not prime", rsaJSON(new(big.Int).Mul(p, three), q, e), keys.ErrInvalid, "not prime"},
		{"rsa even exponent", rsaJSON(p, q, 65536), keys.ErrInvalid, "publicExponent must be odd"},
		{"rsa exponent one", rsaJSON(p, q, 1), keys.ErrInvalid, "publicExponent must be odd"},
		{"rsa exponent too large", rsaJSON(p, q, 1<<31+1), keys.ErrInvalid, "2^31-1"},
		{"rsa exponent not coprime", rsaJSON(p1mod3, q512, 3), keys.ErrInvalid, "not coprime"},
		{"rsa modulus too small", rsaJSON(pSmall, qSmall, 65537), keys.ErrInvalid, "outside 1024..8192"},
		{"rsa primes too close", rsaJSON(q512, pNext, 65537), keys.ErrInvalid, "|p - q| too small"},
		{"rsa primes too large", rsaJSON(new(big.Int).Lsh(p, 4000), new(big.Int).Lsh(q, 4000), 65537), keys.ErrInvalid, "too large"},
		{"ec with primes", withPrimes(ec(keys.TypeECP256, make([]byte, 32))), keys.ErrInvalid, "only for RSA"},
		{"ec missing data", ec(keys.TypeECP256, nil), keys.ErrInvalid, "private.data is required"},
		{"ec zero scalar", ec(keys.TypeECP256, make([]byte, 32)), keys.ErrInvalid, "not a valid EC_P256 scalar"},
		{"ec scalar is order", ec(keys.TypeECP256, p256Order), keys.ErrInvalid, "not a valid EC_P256 scalar"},
		{"ec scalar too long", ec(keys.TypeECP256, bytes.Repeat([]byte{1}, 33)), keys.ErrInvalid, "33 bytes, longer than a 32-byte"},
		{"ed25519 short seed", keys.PrivateJSON{Type: keys.TypeCurve25519, Mechanisms: eddsaMechs, Private: keys.PrivateData{Data: b64(make([]byte, 31))}}, keys.ErrInvalid, "want a 32-byte seed"},
		{"ed25519 expanded key", keys.PrivateJSON{Type: keys.TypeCurve25519, Mechanisms: eddsaMechs, Private: keys.PrivateData{Data: b64(make([]byte, ed25519.PrivateKeySize))}}, keys.ErrInvalid, "want a 32-byte seed"},
		{"aes bad length", keys.PrivateJSON{Type: keys.TypeGeneric, Mechanisms: aesMechs, Private: keys.PrivateData{Data: b64(make([]byte, 15))}}, keys.ErrInvalid, "120 bits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := keys.FromJSON(tt.in)
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

func withData(p keys.PrivateJSON, data string) keys.PrivateJSON {
	p.Private.Data = data
	return p
}

func withPrimes(p keys.PrivateJSON) keys.PrivateJSON {
	p.Private.PrimeP, p.Private.PrimeQ = "Aw==", "BQ=="
	return p
}

// mustPrime returns a random prime of the given size that satisfies ok.
func mustPrime(t *testing.T, bits int, ok func(*big.Int) bool) *big.Int {
	t.Helper()
	for {
		p, err := rand.Prime(rand.Reader, bits)
		if err != nil {
			t.Fatal(err)
		}
		if ok == nil || ok(p) {
			return p
		}
	}
}

// nextPrime returns the smallest prime above p.
func nextPrime(p *big.Int) *big.Int {
	two := big.NewInt(2)
	n := new(big.Int).Add(p, two)
	for !n.ProbablyPrime(20) {
		n.Add(n, two)
	}
	return n
}
