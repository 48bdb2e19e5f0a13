package e2e

import (
	"bytes"
	"cmp"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	_ "crypto/md5" // PSS_MD5 and OAEP_MD5
	"crypto/rand"
	"crypto/rsa"
	_ "crypto/sha1" // PSS_SHA1 and OAEP_SHA1
	_ "crypto/sha512"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/appliance/apptest"
	"github.com/keywarden/keywarden/appliance/client"
)

// keyEnv is one provisioned appliance with an Operator to use its keys.
type keyEnv struct {
	d         *apptest.Daemon
	admin, op *client.Client
	rsa       *rsa.PrivateKey // generated locally, imported as JSON and PEM
}

func mechs(m ...client.KeyMechanism) []client.KeyMechanism { return m }

var allRSAMechs = mechs("RSA_Signature_PKCS1", "RSA_Signature_PSS_MD5", "RSA_Signature_PSS_SHA1",
	"RSA_Signature_PSS_SHA224", "RSA_Signature_PSS_SHA256", "RSA_Signature_PSS_SHA384", "RSA_Signature_PSS_SHA512",
	"RSA_Decryption_RAW", "RSA_Decryption_PKCS1", "RSA_Decryption_OAEP_MD5", "RSA_Decryption_OAEP_SHA1",
	"RSA_Decryption_OAEP_SHA224", "RSA_Decryption_OAEP_SHA256", "RSA_Decryption_OAEP_SHA384", "RSA_Decryption_OAEP_SHA512")

// signMode is a sign mode and the hash its input is made with (none for EdDSA).
type signMode struct {
	mode client.SignMode
	hash crypto.Hash
}

var rsaSignModes = []signMode{{"PKCS1", crypto.SHA256}, {"PSS_MD5", crypto.MD5}, {"PSS_SHA1", crypto.SHA1},
	{"PSS_SHA224", crypto.SHA224}, {"PSS_SHA256", crypto.SHA256}, {"PSS_SHA384", crypto.SHA384}, {"PSS_SHA512", crypto.SHA512}}

var rsaDecryptModes = []struct {
	mode client.DecryptMode
	hash crypto.Hash
}{{"RAW", 0}, {"PKCS1", 0}, {"OAEP_MD5", crypto.MD5}, {"OAEP_SHA1", crypto.SHA1}, {"OAEP_SHA224", crypto.SHA224},
	{"OAEP_SHA256", crypto.SHA256}, {"OAEP_SHA384", crypto.SHA384}, {"OAEP_SHA512", crypto.SHA512}}

// sha256DigestInfo is the DER DigestInfo prefix of a SHA-256 hash, which a
// PKCS1 sign request carries in front of the hash.
var sha256DigestInfo = []byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}

func (e keyEnv) generate(t *testing.T, req client.KeyGenerateRequest) string {
	t.Helper()
	id, err := e.admin.GenerateKey(apptest.Context(t), req)
	if err != nil {
		t.Fatalf("generate %s %s: %v", req.Type, req.ID, err)
	}
	return id
}

// signVerify signs through the API in mode m and verifies the signature
// locally with pub.
func (e keyEnv) signVerify(t *testing.T, id string, pub crypto.PublicKey, m signMode) {
	t.Helper()
	data := []byte("keywarden e2e " + string(m.mode))
	msg, digest := data, data
	if m.hash != 0 {
		h := m.hash.New()
		h.Write(data)
		msg, digest = h.Sum(nil), h.Sum(nil)
	}
	if m.mode == "PKCS1" {
		msg = slices.Concat(sha256DigestInfo, digest)
	}
	sig, err := e.op.Sign(apptest.Context(t), id, client.SignRequest{Mode: m.mode, Message: msg})
	if err != nil {
		t.Fatalf("sign %s with %s: %v", m.mode, id, err)
	}
	if err := verifySig(pub, m, digest, sig); err != nil {
		t.Errorf("%s signature of %s does not verify: %v", m.mode, id, err)
	}
}

// verifySig checks sig over digest (the message itself for EdDSA) locally.
func verifySig(pub crypto.PublicKey, m signMode, digest, sig []byte) error {
	ok := false
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if m.mode == "PKCS1" {
			return rsa.VerifyPKCS1v15(k, crypto.SHA256, digest, sig)
		}
		return rsa.VerifyPSS(k, m.hash, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	case *ecdsa.PublicKey:
		ok = ecdsa.VerifyASN1(k, digest, sig)
	case ed25519.PublicKey:
		ok = ed25519.Verify(k, digest, sig)
	}
	if !ok {
		return fmt.Errorf("%T signature does not verify", pub)
	}
	return nil
}

// decryptAll encrypts locally for pub in every RSA mode and checks that the
// appliance decrypts it.
func (e keyEnv) decryptAll(t *testing.T, id string, pub *rsa.PublicKey) {
	t.Helper()
	msg := []byte("32 bytes of keywarden plaintext!")
	for _, m := range rsaDecryptModes {
		ct, want, err := []byte(nil), msg, error(nil)
		switch m.mode {
		case "RAW": // textbook RSA; the answer is left-padded to the modulus size
			c := new(big.Int).Exp(new(big.Int).SetBytes(msg), big.NewInt(int64(pub.E)), pub.N)
			ct, want = c.FillBytes(make([]byte, pub.Size())), new(big.Int).SetBytes(msg).FillBytes(make([]byte, pub.Size()))
		case "PKCS1":
			//lint:ignore SA1019 the mode under test
			ct, err = rsa.EncryptPKCS1v15(rand.Reader, pub, msg)
		default:
			ct, err = rsa.EncryptOAEP(m.hash.New(), rand.Reader, pub, msg, nil)
		}
		if err != nil {
			t.Fatalf("encrypt %s locally: %v", m.mode, err)
		}
		got, err := e.op.Decrypt(apptest.Context(t), id, client.DecryptRequest{Mode: m.mode, Encrypted: ct})
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("decrypt %s with %s: got %x, %v; want %x", m.mode, id, got, err, want)
		}
	}
}

// aesRoundTrip encrypts through the API, with and without an IV, checks
// the ciphertext against local AES-CBC when key is known, and decrypts it
// back through the API.
func (e keyEnv) aesRoundTrip(t *testing.T, id string, key []byte) {
	t.Helper()
	ctx := apptest.Context(t)
	msg := []byte("two AES blocks of keywarden data")
	for _, iv := range [][]byte{nil, []byte("sixteen byte iv!")} {
		out, err := e.op.Encrypt(ctx, id, client.EncryptRequest{Mode: "AES_CBC", Message: msg, IV: iv})
		if err != nil {
			t.Fatalf("encrypt with %s (iv %q): %v", id, iv, err)
		}
		if len(out.IV) != 16 || (iv != nil && !bytes.Equal(out.IV, iv)) || len(out.Encrypted) != len(msg) {
			t.Fatalf("encrypt with %s (iv %q): got iv %x and %d bytes, want the iv used and %d bytes", id, iv, out.IV, len(out.Encrypted), len(msg))
		}
		if key != nil {
			block, _ := aes.NewCipher(key)
			want := make([]byte, len(msg))
			cipher.NewCBCEncrypter(block, out.IV).CryptBlocks(want, msg)
			if !bytes.Equal(out.Encrypted, want) {
				t.Errorf("encrypt with %s: got %x, want local AES-CBC %x", id, out.Encrypted, want)
			}
		}
		got, err := e.op.Decrypt(ctx, id, client.DecryptRequest{Mode: "AES_CBC", Encrypted: out.Encrypted, IV: out.IV})
		if err != nil || !bytes.Equal(got, msg) {
			t.Errorf("decrypt with %s: got %q, %v; want %q", id, got, err, msg)
		}
	}
}

func (e keyEnv) generateAndUse(t *testing.T) {
	for _, tc := range []struct {
		typ    client.KeyType
		length int
		mechs  []client.KeyMechanism
		signs  []signMode
	}{
		{"RSA", 2048, allRSAMechs, rsaSignModes},
		{"EC_P256", 0, mechs("ECDSA_Signature"), []signMode{{"ECDSA", crypto.SHA256}}},
		{"EC_P384", 0, mechs("ECDSA_Signature"), []signMode{{"ECDSA", crypto.SHA384}}},
		{"EC_P521", 0, mechs("ECDSA_Signature"), []signMode{{"ECDSA", crypto.SHA512}}},
		{"Curve25519", 0, mechs("EdDSA_Signature"), []signMode{{"EdDSA", 0}}},
		{"Generic", 256, mechs("AES_Encryption_CBC", "AES_Decryption_CBC"), nil},
	} {
		t.Run(string(tc.typ), func(t *testing.T) {
			id := e.generate(t, client.KeyGenerateRequest{ID: "gen-" + strings.ToLower(string(tc.typ)), Type: tc.typ, Length: tc.length, Mechanisms: tc.mechs})
			k, err := e.op.Key(apptest.Context(t), id)
			if err != nil || k.Type != tc.typ || !sameSet(k.Mechanisms, tc.mechs) {
				t.Fatalf("GET /keys/%s: got type %s, mechanisms %v, %v; want %s, %v", id, k.Type, k.Mechanisms, err, tc.typ, tc.mechs)
			}
			if tc.typ == "Generic" {
				if k.Public != nil {
					t.Errorf("GET /keys/%s: got public %+v, want none for a Generic key", id, k.Public)
				}
				e.aesRoundTrip(t, id, nil)
				return
			}
			pub := publicKey(t, e.admin, id)
			wantPublicData(t, id, k.Public, pub)
			for _, m := range tc.signs {
				e.signVerify(t, id, pub, m)
			}
			if k, ok := pub.(*rsa.PublicKey); ok {
				e.decryptAll(t, id, k)
			}
		})
	}
}

func sameSet[T cmp.Ordered](a, b []T) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// wantPublicData fails unless the JSON public part of a key describes pub:
// modulus and exponent for RSA, the uncompressed point for EC, the RFC 8032
// encoding for Curve25519.
func wantPublicData(t *testing.T, id string, got *client.KeyPublicData, pub crypto.PublicKey) {
	t.Helper()
	var want client.KeyPublicData
	switch k := pub.(type) {
	case *rsa.PublicKey:
		want = client.KeyPublicData{Modulus: k.N.Bytes(), PublicExponent: big.NewInt(int64(k.E)).Bytes()}
	case *ecdsa.PublicKey:
		want.Data, _ = k.Bytes()
	case ed25519.PublicKey:
		want.Data = k
	}
	if got == nil || !bytes.Equal(got.Modulus, want.Modulus) || !bytes.Equal(got.PublicExponent, want.PublicExponent) || !bytes.Equal(got.Data, want.Data) {
		t.Errorf("GET /keys/%s public: got %+v, want %+v", id, got, want)
	}
}

// refusals are requests for key types this appliance does not implement
// and for modes a key was not created with.
func (e keyEnv) refusals(t *testing.T) {
	ctx := apptest.Context(t)
	for _, typ := range []client.KeyType{"EC_P256K1", "BrainpoolP256"} {
		_, err := e.admin.GenerateKey(ctx, client.KeyGenerateRequest{Type: typ, Mechanisms: mechs("ECDSA_Signature")})
		wantStatus(t, "generate "+string(typ), err, 400)
		if !strings.Contains(err.Error(), string(typ)) {
			t.Errorf("generate %s: message %q does not name the type", typ, err)
		}
	}
	e.generate(t, client.KeyGenerateRequest{ID: "pss-only", Type: "RSA", Length: 1024, Mechanisms: mechs("RSA_Signature_PSS_SHA256")})
	e.generate(t, client.KeyGenerateRequest{ID: "enc-only", Type: "Generic", Length: 128, Mechanisms: mechs("AES_Encryption_CBC")})
	digest := make([]byte, 32)
	_, err := e.op.Sign(ctx, "pss-only", client.SignRequest{Mode: "PKCS1", Message: slices.Concat(sha256DigestInfo, digest)})
	wantStatus(t, "PKCS1 with a PSS-only key", err, 400)
	_, err = e.op.Decrypt(ctx, "pss-only", client.DecryptRequest{Mode: "OAEP_SHA256", Encrypted: make([]byte, 128)})
	wantStatus(t, "decrypt with a sign-only key", err, 400)
	_, err = e.op.Sign(ctx, "gen-ec_p256", client.SignRequest{Mode: "EdDSA", Message: digest})
	wantStatus(t, "EdDSA with a P-256 key", err, 400)
	_, err = e.op.Decrypt(ctx, "enc-only", client.DecryptRequest{Mode: "AES_CBC", Encrypted: make([]byte, 16), IV: make([]byte, 16)})
	wantStatus(t, "decrypt with an encrypt-only key", err, 400)
	_, err = e.admin.GenerateKey(ctx, client.KeyGenerateRequest{Type: "EC_P256", Mechanisms: mechs("EdDSA_Signature")})
	wantStatus(t, "a mechanism that does not fit the type", err, 400)
	_, err = e.admin.GenerateKey(ctx, client.KeyGenerateRequest{ID: "pss-only", Type: "EC_P256", Mechanisms: mechs("ECDSA_Signature")})
	wantStatus(t, "generate under an existing ID", err, 409)
}

// TestKeys generates, imports and uses keys of every supported type in every
// mode, manages them, and finally scans for the imported private material.
func TestKeys(t *testing.T) {
	d := apptest.Start(t, apptest.Options{})
	provision(t, d)
	ctx := apptest.Context(t)
	admin := d.Client("admin", adminPass)
	for _, u := range []string{"op1", "op-berlin"} {
		if err := admin.AddUser(ctx, u, client.NewUser{RealName: u, Role: "Operator", Passphrase: operatorPass}); err != nil {
			t.Fatalf("add %s: %v", u, err)
		}
	}
	if err := admin.AddUserTag(ctx, "op-berlin", "berlin"); err != nil {
		t.Fatalf("tag op-berlin: %v", err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	e := keyEnv{d: d, admin: admin, op: d.Client("op1", operatorPass), rsa: rsaKey}
	var secrets []string
	t.Run("generate and use", e.generateAndUse)
	t.Run("refusals", e.refusals)
	t.Run("JSON import", func(t *testing.T) { secrets = append(secrets, e.importJSON(t)...) })
	t.Run("PEM import", func(t *testing.T) { secrets = append(secrets, e.importPEM(t)...) })
	t.Run("listing", e.listing)
	t.Run("restrictions", func(t *testing.T) { e.restrictions(t, d.Client("op-berlin", operatorPass)) })
	t.Run("move", e.move)
	t.Run("label", e.label)
	t.Run("CSR", e.csr)
	t.Run("certificate", e.certificate)
	t.Run("delete", e.delete)
	t.Run("operations", e.operations)
	d.Stop()
	if len(secrets) == 0 {
		t.Fatal("the import steps returned no secrets to scan for")
	}
	assertNoSecrets(t, d, append(secrets, unlockPass, adminPass, operatorPass)...)
}

// rawAndBase64 returns b as raw bytes and as the base64 the API carries.
