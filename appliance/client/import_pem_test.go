package client

import (
	"bytes"
	"context"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"testing"
)

const mimeForm = "multipart/form-data"

const testKeyPEM = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n-----END PRIVATE KEY-----\n"

// wantPart is one expected part of the multipart import body, in order.
type wantPart struct {
	name, contentType, body string
}

func checkKeyForm(want []wantPart) func(t *testing.T, r *http.Request, body []byte) {
	return func(t *testing.T, r *http.Request, body []byte) {
		_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || params["boundary"] == "" {
			t.Fatalf("content type %q: no multipart boundary (%v)", r.Header.Get("Content-Type"), err)
		}
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for i := 0; ; i++ {
			p, err := mr.NextPart()
			if err == io.EOF {
				if i != len(want) {
					t.Errorf("parts: got %d, want %d", i, len(want))
				}
				return
			}
			if err != nil {
				t.Fatalf("part %d: %v", i, err)
			}
			if i >= len(want) {
				t.Fatalf("part %d %q: more parts than the %d wanted", i, p.FormName(), len(want))
			}
			data, _ := io.ReadAll(p)
			got := wantPart{p.FormName(), p.Header.Get("Content-Type"), string(data)}
			if got != want[i] {
				t.Errorf("part %d: got %+v, want %+v", i, got, want[i])
			}
		}
	}
}

func TestImportKeyPEM(t *testing.T) {
	args := KeyImportArguments{Mechanisms: []KeyMechanism{MechEdDSASignature}, Restrictions: &KeyRestrictions{Tags: []string{"munich"}}}
	parts := []wantPart{
		{"arguments", mimeJSON, `{"mechanisms":["EdDSA_Signature"],"restrictions":{"tags":["munich"]}}`},
		{"key_file", mimePEM, testKeyPEM},
	}
	runCases(t, []apiCase{
		{"with id", exchange{method: "PUT", uri: "/keys/k1", accept: mimeJSON, contentType: mimeForm, check: checkKeyForm(parts), status: 204},
			func(ctx context.Context, c *Client) (any, error) {
				return c.ImportKeyPEM(ctx, "k1", args, []byte(testKeyPEM))
			}, "k1"},
		{"without id", answer(exchange{method: "POST", uri: "/keys", accept: mimeJSON, contentType: mimeForm, check: checkKeyForm(parts)}, 201, `{"id":"gen1"}`),
			func(ctx context.Context, c *Client) (any, error) {
				return c.ImportKeyPEM(ctx, "", args, []byte(testKeyPEM))
			}, "gen1"},
		{"without restrictions", exchange{method: "PUT", uri: "/keys/k1", accept: mimeJSON, contentType: mimeForm, status: 204,
			check: checkKeyForm([]wantPart{{"arguments", mimeJSON, `{"mechanisms":["EdDSA_Signature"]}`}, parts[1]})},
			func(ctx context.Context, c *Client) (any, error) {
				return c.ImportKeyPEM(ctx, "k1", KeyImportArguments{Mechanisms: []KeyMechanism{MechEdDSASignature}}, []byte(testKeyPEM))
			}, "k1"},
	})
}
