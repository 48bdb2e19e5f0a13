package keys_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"slices"
	"testing"

	"github.com/keywarden/keywarden/appliance/keys"
)

func TestMarshalRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		key  func(t *testing.T) *keys.Key
	}{
		{"rsa1024", func(t *testing.T) *keys.Key { return sharedRSA(t, 1024) }},
		{"p256", func(t *testing.T) *keys.Key { return mustGenerate(t, keys.TypeECP256, 0, ecdsaMechs) }},
		{"p384", func(t *testing.T) *keys.Key { return mustGenerate(t, keys.TypeECP384, 0, ecdsaMechs) }},
		{"p521", func(t *testing.T) *keys.Key { return mustGenerate(t, keys.TypeECP521, 0, ecdsaMechs) }},
		{"curve25519", func(t *testing.T) *keys.Key { return mustGenerate(t, keys.TypeCurve25519, 0, eddsaMechs) }},
		{"aes128", func(t *testing.T) *keys.Key { return mustGenerate(t, keys.TypeGeneric, 128, aesMechs) }},
		{"aes256", func(t *testing.T) *keys.Key { return mustGenerate(t, keys.TypeGeneric, 256, aesMechs) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := tt.key(t)
			data, err := orig.MarshalBinary()
			if err != nil {
				t.Fatalf("MarshalBinary: %v", err)
			}
			var got keys.Key
			if err := got.UnmarshalBinary(data); err != nil {
				t.Fatalf("UnmarshalBinary: %v", err)
			}
			if got.Type() != orig.Type() || !slices.Equal(got.Mechanisms(), orig.Mechanisms()) {
				t.Errorf("got %v, want %v", got, orig)
			}
			if a, b := mustJSON(t, got.PublicData()), mustJSON(t, orig.PublicData()); a != b {
				t.Errorf("PublicData = %s, want %s", a, b)
			}
			again, err := got.MarshalBinary()
			if err != nil || !bytes.Equal(again, data) {
				t.Errorf("marshalling the restored key gave different bytes (err %v)", err)
			}
			if orig.Type() == keys.TypeGeneric {
				checkSameAES(t, orig, &got)
				return
			}
			checkSignVerify(t, &got, signModeFor(got.Type()))
		})
	}
}

// checkSameAES checks that b decrypts what a encrypts.
func checkSameAES(t *testing.T, a, b *keys.Key) {
	t.Helper()
	msg := make([]byte, 32)
	ct, iv, err := a.Encrypt(keys.EncryptAESCBC, msg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := b.Decrypt(keys.DecryptAESCBC, ct, iv); err != nil || !bytes.Equal(pt, msg) {
		t.Errorf("Decrypt = %x, %v; want %x, nil", pt, err, msg)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// stored builds a storage value by hand: version 1, type, mechanisms, material.
func stored(typ string, mechs []string, material []byte) []byte {
	out := []byte{1, byte(len(typ))}
	out = append(out, typ...)
	out = append(out, byte(len(mechs)))
	for _, m := range mechs {
		out = append(append(out, byte(len(m))), m...)
	}
	return append(out, material...)
}

func TestUnmarshalErrors(t *testing.T) {
	p256 := mustGenerate(t, keys.TypeECP256, 0, ecdsaMechs)
	good, _ := p256.MarshalBinary()
	rsaDER, _ := x509.MarshalPKCS8PrivateKey(mustStdRSA(t))
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384DER, _ := x509.MarshalPKCS8PrivateKey(p384)
	aesKey := make([]byte, 16)
	_, _ = rand.Read(aesKey)
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, keys.ErrInvalid},
		{"unknown version", append([]byte{2}, good[1:]...), keys.ErrInvalid},
		{"truncated header", good[:5], keys.ErrInvalid},
		{"truncated material", good[:len(good)-10], keys.ErrInvalid},
		{"unknown type", stored("RSA2", []string{"RSA_Signature_PKCS1"}, rsaDER), keys.ErrInvalid},
		{"unsupported type", stored("EC_P256K1", []string{"ECDSA_Signature"}, rsaDER), keys.ErrUnsupported},
		{"no mechanisms", stored("RSA", nil, rsaDER), keys.ErrInvalid},
		{"mechanism of other type", stored("RSA", []string{"ECDSA_Signature"}, rsaDER), keys.ErrInvalid},
		{"rsa material for ec", stored("EC_P256", []string{"ECDSA_Signature"}, rsaDER), keys.ErrInvalid},
		{"p384 material for p256", stored("EC_P256", []string{"ECDSA_Signature"}, p384DER), keys.ErrInvalid},
		{"garbage material", stored("RSA", []string{"RSA_Signature_PKCS1"}, []byte("junk")), keys.ErrInvalid},
		{"short aes key", stored("Generic", []string{"AES_Decryption_CBC"}, aesKey[:15]), keys.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := *p256
			err := k.UnmarshalBinary(tt.data)
			checkErr(t, err, tt.want)
			if k.Type() != keys.TypeECP256 || !k.HasMechanism(keys.MechECDSASignature) {
				t.Errorf("failed UnmarshalBinary changed the key to %v", k)
			}
		})
	}
	// The hand-built layout is the real one: a good value in it decodes.
	var k keys.Key
	checkErr(t, k.UnmarshalBinary(stored("Generic", []string{"AES_Decryption_CBC"}, aesKey)), nil)
}

func TestMarshalZeroKey(t *testing.T) {
	_, err := new(keys.Key).MarshalBinary()
	checkErr(t, err, keys.ErrInvalid)
}
