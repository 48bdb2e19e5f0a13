package api

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"testing"
)

// decoders are the request bodies the API reads, each behind the code path a
// handler uses.
var decoders = map[string]func(c *call) error{
	"provision": func(c *call) error { var v provisionRequest; return c.decode(&v) },
	"generate":  func(c *call) error { var v generateRequest; return c.decode(&v) },
	"user":      func(c *call) error { var v userPost; return c.decode(&v) },
	"passphrase": func(c *call) error {
		_, err := decodePassphraseChange(c)
		return err
	},
	"import": func(c *call) error { _, err := decodeImport(c, ""); return err },
}

func fuzzCall(contentType string, body []byte) *call {
	r := httptest.NewRequest(http.MethodPost, "/api/v1/x", bytes.NewReader(body))
	r.Header.Set("Content-Type", contentType)
	return &call{w: httptest.NewRecorder(), r: r}
}

func multipartBody(args, key []byte) ([]byte, string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	w, _ := mw.CreateFormField("arguments")
	_, _ = w.Write(args)
	w, _ = mw.CreateFormFile("key_file", "key.pem")
	_, _ = w.Write(key)
	_ = mw.Close()
	return buf.Bytes(), mw.FormDataContentType()
}

// FuzzDecodeRequests feeds arbitrary bodies to every request decoder, as JSON
// and as a multipart key upload. Decoding must never panic and must refuse
// bad input with 400 or 415, never with a server error.
func FuzzDecodeRequests(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"unlockPassphrase":"aaaaaaaaaa","adminPassphrase":"bbbbbbbbbb","systemTime":"2025-01-01T00:00:00Z"}`,
		`{"mechanisms":["ECDSA_Signature"],"type":"EC_P256"}`,
		`{"type":"RSA","mechanisms":["RSA_Signature_PKCS1"],"private":{"primeP":"AQ==","primeQ":"Aw==","publicExponent":"AQAB"}}`,
		`{"type":"Curve25519","mechanisms":["EdDSA_Signature"],"private":{"data":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}}`,
		`{"realName":"x","role":"Operator","passphrase":"cccccccccc"}`, `{"a":1}`, `{} {}`, `[`, ``, "\x00",
		`{"newPassphrase":"dddddddddd","currentPassphrase":""}`,
	} {
		f.Add([]byte(seed), []byte("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n"))
	}
	f.Fuzz(func(t *testing.T, body, pemKey []byte) {
		for name, decode := range decoders {
			check(t, name+"/json", decode(fuzzCall("application/json", body)))
		}
		mp, ct := multipartBody(body, pemKey)
		check(t, "import/multipart", decoders["import"](fuzzCall(ct, mp)))
		check(t, "import/raw-multipart", decoders["import"](fuzzCall("multipart/form-data; boundary=x", body)))
	})
}

func check(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if s := statusOf(err); s != http.StatusBadRequest && s != http.StatusUnsupportedMediaType {
		t.Fatalf("%s: got status %d for %v, want 400 or 415", what, s, err)
	}
}
