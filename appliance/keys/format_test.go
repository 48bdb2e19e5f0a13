package keys_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/appliance/keys"
)

// secretForms returns the ways a secret could show up in text.
func secretForms(secret []byte) []string {
	return []string{
		hex.EncodeToString(secret), strings.ToUpper(hex.EncodeToString(secret)),
		b64(secret), string(secret), strings.Trim(fmt.Sprint(secret), "[]"),
		strings.Trim(fmt.Sprintf("%#v", secret[:4]), "[]byte{}"),
	}
}

func checkNoSecret(t *testing.T, what, out string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("%s shows private material: %q", what, out)
		}
	}
}

func TestFormatHidesMaterial(t *testing.T) {
	aesSecret := []byte("\xde\xad\xbe\xefkeywarden-secret-32-bytes!!!")
	orig := mustStdRSA(t)
	rsaKey, err := keys.FromJSON(rsaJSON(orig.Primes[0], orig.Primes[1], orig.E))
	if err != nil {
		t.Fatal(err)
	}
	p := orig.Primes[0]
	tests := []struct {
		name    string
		key     *keys.Key
		secrets []string
		want    string
	}{
		{"generic", importAES(t, aesSecret), secretForms(aesSecret),
			"Generic key [AES_Encryption_CBC AES_Decryption_CBC]"},
		{"rsa", rsaKey, append(secretForms(p.Bytes()), p.String(), p.Text(16)), "RSA key ["},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
				for _, v := range []any{tt.key, *tt.key} {
					out := fmt.Sprintf(verb, v)
					checkNoSecret(t, verb, out, tt.secrets)
					if !strings.HasPrefix(out, tt.want) {
						t.Errorf("Sprintf(%s) = %q, want it to start with %q", verb, out, tt.want)
					}
				}
			}
			var buf bytes.Buffer
			slog.New(slog.NewJSONHandler(&buf, nil)).Info("k", "key", tt.key)
			slog.New(slog.NewTextHandler(&buf, nil)).Info("k", "key", *tt.key)
			checkNoSecret(t, "slog", buf.String(), tt.secrets)
			if !strings.Contains(buf.String(), `"type":"`+string(tt.key.Type())) {
				t.Errorf("slog JSON output %q lacks the key type", buf.String())
			}
		})
	}
}

// Import errors describe the input without echoing it.
func TestErrorsHideMaterial(t *testing.T) {
	secret := []byte("\xde\xad\xbe\xefsecret-scalar-that-is-too-long!!!")
	tests := []struct {
		name string
		err  func() error
	}{
		{"ec scalar too long", func() error {
			_, err := keys.FromJSON(keys.PrivateJSON{Type: keys.TypeECP256, Mechanisms: ecdsaMechs, Private: keys.PrivateData{Data: b64(secret)}})
			return err
		}},
		{"aes key wrong length", func() error {
			_, err := keys.FromJSON(keys.PrivateJSON{Type: keys.TypeGeneric, Mechanisms: aesMechs, Private: keys.PrivateData{Data: b64(secret)}})
			return err
		}},
		{"pem garbage", func() error { _, err := keys.FromPEM(pemOf("PRIVATE KEY", secret), ecdsaMechs); return err }},
		{"der garbage", func() error { _, err := keys.FromDER(secret, ecdsaMechs); return err }},
		{"bad base64", func() error {
			_, err := keys.FromJSON(keys.PrivateJSON{Type: keys.TypeGeneric, Mechanisms: aesMechs, Private: keys.PrivateData{Data: "c2VjcmV0!"}})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.err()
			if err == nil {
				t.Fatal("got no error, want one")
			}
			checkNoSecret(t, "error", err.Error(), append(secretForms(secret), "c2VjcmV0"))
		})
	}
}
