package keys_test

import (
	"testing"

	"github.com/keywarden/keywarden/appliance/keys"
)

// The enum values below are copied from the NetHSM API's schemas on purpose:
// a renamed constant must fail here.
func TestParseEnums(t *testing.T) {
	tests := []struct {
		name  string
		valid []string
		parse func(string) (string, error)
	}{
		{"KeyType", []string{"RSA", "Curve25519", "EC_P256", "EC_P384", "EC_P521", "EC_P256K1",
			"BrainpoolP256", "BrainpoolP384", "BrainpoolP512", "Generic"},
			func(s string) (string, error) { v, err := keys.ParseType(s); return string(v), err }},
		{"KeyMechanism", []string{"RSA_Decryption_RAW", "RSA_Decryption_PKCS1", "RSA_Decryption_OAEP_MD5",
			"RSA_Decryption_OAEP_SHA1", "RSA_Decryption_OAEP_SHA224", "RSA_Decryption_OAEP_SHA256",
			"RSA_Decryption_OAEP_SHA384", "RSA_Decryption_OAEP_SHA512", "RSA_Signature_PKCS1",
			"RSA_Signature_PSS_MD5", "RSA_Signature_PSS_SHA1", "RSA_Signature_PSS_SHA224",
			"RSA_Signature_PSS_SHA256", "RSA_Signature_PSS_SHA384", "RSA_Signature_PSS_SHA512",
			"EdDSA_Signature", "ECDSA_Signature", "BIP340_Signature", "AES_Encryption_CBC", "AES_Decryption_CBC"},
			func(s string) (string, error) { v, err := keys.ParseMechanism(s); return string(v), err }},
		{"SignMode", []string{"PKCS1", "PSS_MD5", "PSS_SHA1", "PSS_SHA224", "PSS_SHA256", "PSS_SHA384",
			"PSS_SHA512", "EdDSA", "ECDSA", "BIP340"},
			func(s string) (string, error) { v, err := keys.ParseSignMode(s); return string(v), err }},
		{"DecryptMode", []string{"RAW", "PKCS1", "OAEP_MD5", "OAEP_SHA1", "OAEP_SHA224", "OAEP_SHA256",
			"OAEP_SHA384", "OAEP_SHA512", "AES_CBC"},
			func(s string) (string, error) { v, err := keys.ParseDecryptMode(s); return string(v), err }},
		{"EncryptMode", []string{"AES_CBC"},
			func(s string) (string, error) { v, err := keys.ParseEncryptMode(s); return string(v), err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, s := range tt.valid {
				got, err := tt.parse(s)
				if err != nil || got != s {
					t.Errorf("parse(%q) = %q, %v; want %q, nil", s, got, err, s)
				}
			}
			for _, s := range []string{"", "rsa", "Foo", tt.valid[0] + " "} {
				_, err := tt.parse(s)
				checkErr(t, err, keys.ErrInvalid)
			}
		})
	}
}

func TestTypeSupported(t *testing.T) {
	tests := []struct {
		typ  keys.Type
		want bool
	}{
		{keys.TypeRSA, true}, {keys.TypeCurve25519, true}, {keys.TypeECP256, true},
		{keys.TypeECP384, true}, {keys.TypeECP521, true}, {keys.TypeGeneric, true},
		{keys.TypeECP256K1, false}, {keys.TypeBrainpoolP256, false},
		{keys.TypeBrainpoolP384, false}, {keys.TypeBrainpoolP512, false}, {"Nope", false},
	}
	for _, tt := range tests {
		if got := tt.typ.Supported(); got != tt.want {
			t.Errorf("%s.Supported() = %v, want %v", tt.typ, got, tt.want)
		}
	}
}
