package keys_test

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/appliance/keys"
)

func TestPublicDataJSON(t *testing.T) {
	rsaKey := sharedRSA(t, 1024)
	modulus := base64.StdEncoding.EncodeToString(rsaPublic(t, rsaKey).N.Bytes())
	tests := []struct {
		name string
		key  *keys.Key
		want func(string) bool
		desc string
	}{
		{"rsa", rsaKey, func(s string) bool {
			return s == `{"modulus":"`+modulus+`","publicExponent":"AQAB"}`
		}, "modulus and AQAB"},
		{"p256", mustGenerate(t, keys.TypeECP256, 0, ecdsaMechs), func(s string) bool {
			// 65 bytes starting 0x04 encode to 88 characters starting "B".
			return strings.HasPrefix(s, `{"data":"B`) && len(s) == len(`{"data":""}`)+88
		}, "an uncompressed point"},
		{"curve25519", mustGenerate(t, keys.TypeCurve25519, 0, eddsaMechs), func(s string) bool {
			return strings.HasPrefix(s, `{"data":"`) && len(s) == len(`{"data":""}`)+44
		}, "32 bytes of data"},
		{"generic", mustGenerate(t, keys.TypeGeneric, 128, aesMechs), func(s string) bool { return s == "null" }, "null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.key.PublicData())
			if err != nil {
				t.Fatal(err)
			}
			if !tt.want(string(b)) {
				t.Errorf("PublicData JSON = %s, want %s", b, tt.desc)
			}
		})
	}
}

func TestPublicPEM(t *testing.T) {
	for _, k := range []*keys.Key{
		sharedRSA(t, 1024),
		mustGenerate(t, keys.TypeECP521, 0, ecdsaMechs),
		mustGenerate(t, keys.TypeCurve25519, 0, eddsaMechs),
	} {
		t.Run(string(k.Type()), func(t *testing.T) {
			out, err := k.PublicPEM()
			if err != nil {
				t.Fatal(err)
			}
			block, rest := pem.Decode(out)
			if block == nil || block.Type != "PUBLIC KEY" || len(rest) != 0 {
				t.Fatalf("PublicPEM = %q, want one PUBLIC KEY block", out)
			}
			pub, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if !samePublic(pub, k.Public()) {
				t.Errorf("PEM public key differs from Public()")
			}
		})
	}
}

func TestPublicPEMGeneric(t *testing.T) {
	for _, k := range []*keys.Key{mustGenerate(t, keys.TypeGeneric, 128, aesMechs), {}} {
		out, err := k.PublicPEM()
		checkErr(t, err, keys.ErrInvalid)
		if out != nil {
			t.Errorf("PublicPEM = %q, want nil", out)
		}
		if k.PublicData() != nil || k.Public() != nil {
			t.Errorf("%v: got a public key, want none", k)
		}
	}
}
