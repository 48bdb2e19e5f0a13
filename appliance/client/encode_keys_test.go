package client

import (
	"context"
	"testing"
)

func TestKeyRequests(t *testing.T) {
	rsaKey := `{"mechanisms":["RSA_Signature_PSS_SHA256"],"type":"RSA","restrictions":{"tags":["berlin"]},` +
		`"public":{"modulus":"AQID","publicExponent":"AQAB"},"operations":242,"label":"web"}`
	runCases(t, []apiCase{
		{"generate with every field", answer(exchange{method: "POST", uri: "/keys/generate", accept: mimeJSON, contentType: mimeJSON,
			body: `{"mechanisms":["EdDSA_Signature"],"type":"Curve25519","id":"k1","restrictions":{"tags":["berlin"]},"label":"web"}`}, 201, `{"id":"k1"}`),
			func(ctx context.Context, c *Client) (any, error) {
				return c.GenerateKey(ctx, KeyGenerateRequest{Mechanisms: []KeyMechanism{MechEdDSASignature}, Type: KeyTypeCurve25519,
					ID: "k1", Restrictions: &KeyRestrictions{Tags: []string{"berlin"}}, Label: "web"})
			}, "k1"},
		{"generate id from location", exchange{method: "POST", uri: "/keys/generate", accept: mimeJSON, contentType: mimeJSON,
			body:   `{"mechanisms":["RSA_Signature_PSS_SHA256"],"type":"RSA","length":2048}`,
			status: 201, respHeader: map[string]string{"Location": "/api/v1/keys/gen42"}},
			func(ctx context.Context, c *Client) (any, error) {
				return c.GenerateKey(ctx, KeyGenerateRequest{Mechanisms: []KeyMechanism{MechRSASignaturePSSSHA256}, Type: KeyTypeRSA, Length: 2048})
			}, "gen42"},
		{"import json with id", noContent(exchange{method: "PUT", uri: "/keys/k2", accept: mimeJSON, contentType: mimeJSON,
			body: `{"mechanisms":["RSA_Signature_PKCS1"],"type":"RSA","private":{"primeP":"AQID","primeQ":"BAUG","publicExponent":"AQAB"}}`}),
			func(ctx context.Context, c *Client) (any, error) {
				return c.ImportKey(ctx, "k2", PrivateKey{Mechanisms: []KeyMechanism{MechRSASignaturePKCS1}, Type: KeyTypeRSA,
					Private: KeyPrivateData{PrimeP: []byte{1, 2, 3}, PrimeQ: []byte{4, 5, 6}, PublicExponent: []byte{1, 0, 1}}})
			}, "k2"},
		{"import json without id", answer(exchange{method: "POST", uri: "/keys", accept: mimeJSON, contentType: mimeJSON,
			body: `{"mechanisms":["ECDSA_Signature"],"type":"EC_P256","private":{"data":"/wA="},"restrictions":{"tags":["munich"]},"label":"l"}`}, 201, `{"id":"gen7"}`),
			func(ctx context.Context, c *Client) (any, error) {
				return c.ImportKey(ctx, "", PrivateKey{Mechanisms: []KeyMechanism{MechECDSASignature}, Type: KeyTypeECP256,
					Private: KeyPrivateData{Data: []byte{0xff, 0}}, Restrictions: &KeyRestrictions{Tags: []string{"munich"}}, Label: "l"})
			}, "gen7"},
		{"list", answer(exchange{method: "GET", uri: "/keys", accept: mimeJSON}, 200, `[{"id":"a"},{"id":"b"}]`),
			func(ctx context.Context, c *Client) (any, error) { return c.Keys(ctx, KeyListOptions{}) },
			[]string{"a", "b"}},
		{"list filtered by label", answer(exchange{method: "GET", uri: "/keys?filter=true&label=web+server", accept: mimeJSON}, 200, `[{"id":"a"}]`),
			func(ctx context.Context, c *Client) (any, error) {
				return c.Keys(ctx, KeyListOptions{Filter: "true", Label: "web server"})
			}, []string{"a"}},
		{"list prefix", answer(exchange{method: "GET", uri: "/keys/my*", accept: mimeJSON}, 200, `[{"id":"myKey1"}]`),
			func(ctx context.Context, c *Client) (any, error) { return c.KeysWithPrefix(ctx, "my", "") },
			[]string{"myKey1"}},
		{"list prefix filtered", answer(exchange{method: "GET", uri: "/keys/my*?filter=1", accept: mimeJSON}, 200, `[]`),
			func(ctx context.Context, c *Client) (any, error) { return c.KeysWithPrefix(ctx, "my", "1") },
			[]string{}},
		{"show rsa", answer(exchange{method: "GET", uri: "/keys/k1", accept: mimeJSON}, 200, rsaKey),
			func(ctx context.Context, c *Client) (any, error) { return c.Key(ctx, "k1") },
			PublicKey{Mechanisms: []KeyMechanism{MechRSASignaturePSSSHA256}, Type: KeyTypeRSA, Restrictions: KeyRestrictions{Tags: []string{"berlin"}},
				Public: &KeyPublicData{Modulus: []byte{1, 2, 3}, PublicExponent: []byte{1, 0, 1}}, Operations: 242, Label: "web"}},
		{"show generic has no public part", answer(exchange{method: "GET", uri: "/keys/aes", accept: mimeJSON}, 200,
			`{"mechanisms":["AES_Encryption_CBC","AES_Decryption_CBC"],"type":"Generic","restrictions":{},"operations":0}`),
			func(ctx context.Context, c *Client) (any, error) { return c.Key(ctx, "aes") },
			PublicKey{Mechanisms: []KeyMechanism{MechAESEncryptionCBC, MechAESDecryptionCBC}, Type: KeyTypeGeneric}},
		{"delete", noContent(exchange{method: "DELETE", uri: "/keys/k1", accept: mimeJSON}),
			func(ctx context.Context, c *Client) (any, error) { return none(c.DeleteKey(ctx, "k1")) }, nil},
		{"move", answer(exchange{method: "POST", uri: "/keys/k1/move", accept: mimeJSON, contentType: mimeJSON, body: `{"newId":"k9"}`}, 200, `{"id":"k9"}`),
			func(ctx context.Context, c *Client) (any, error) { return c.MoveKey(ctx, "k1", "k9") }, "k9"},
		{"set label", noContent(exchange{method: "PUT", uri: "/keys/k1/label", accept: mimeJSON, contentType: mimeJSON, body: `{"label":"etestlabel✓"}`}),
			func(ctx context.Context, c *Client) (any, error) {
				return none(c.SetKeyLabel(ctx, "k1", "etestlabel✓"))
			}, nil},
		{"delete label", noContent(exchange{method: "DELETE", uri: "/keys/k1/label", accept: mimeJSON}),
			func(ctx context.Context, c *Client) (any, error) { return none(c.DeleteKeyLabel(ctx, "k1")) }, nil},
		{"restrict", noContent(exchange{method: "PUT", uri: "/keys/k1/restrictions/tags/berlin", accept: mimeJSON}),
			func(ctx context.Context, c *Client) (any, error) {
				return none(c.AddKeyRestrictionTag(ctx, "k1", "berlin"))
			}, nil},
		{"unrestrict", noContent(exchange{method: "DELETE", uri: "/keys/k1/restrictions/tags/berlin", accept: mimeJSON}),
			func(ctx context.Context, c *Client) (any, error) {
				return none(c.RemoveKeyRestrictionTag(ctx, "k1", "berlin"))
			}, nil},
	})
}

func TestKeyOperationRequests(t *testing.T) {
	const pemText = "-----BEGIN PUBLIC KEY-----\nAAEC\n-----END PUBLIC KEY-----\n"
	raw := func(ex exchange, typ, body string) exchange {
		ex.status, ex.respType, ex.respBody = 200, typ, body
		return ex
	}
	runCases(t, []apiCase{
		{"sign", answer(exchange{method: "POST", uri: "/keys/k1/sign", accept: mimeJSON, contentType: mimeJSON, body: `{"mode":"EdDSA","message":"aGVsbG8="}`},
			200, `{"signature":"AAEC/w=="}`),
			func(ctx context.Context, c *Client) (any, error) {
				return c.Sign(ctx, "k1", SignRequest{Mode: SignModeEdDSA, Message: []byte("hello")})
			}, []byte{0, 1, 2, 0xff}},
		{"decrypt aes", answer(exchange{method: "POST", uri: "/keys/aes/decrypt", accept: mimeJSON, contentType: mimeJSON,
			body: `{"mode":"AES_CBC","encrypted":"+/8=","iv":"AAAAAAAAAAAAAAAAAAAAAA=="}`}, 200, `{"decrypted":"cGxhaW4="}`),
			func(ctx context.Context, c *Client) (any, error) {
				return c.Decrypt(ctx, "aes", DecryptRequest{Mode: DecryptModeAESCBC, Encrypted: []byte{0xfb, 0xff}, IV: make([]byte, 16)})
			}, []byte("plain")},
		{"decrypt rsa sends no iv", answer(exchange{method: "POST", uri: "/keys/k1/decrypt", accept: mimeJSON, contentType: mimeJSON,
			body: `{"mode":"OAEP_SHA256","encrypted":"AQ=="}`}, 200, `{"decrypted":"AA=="}`),
			func(ctx context.Context, c *Client) (any, error) {
				return c.Decrypt(ctx, "k1", DecryptRequest{Mode: DecryptModeOAEPSHA256, Encrypted: []byte{1}})
			}, []byte{0}},
		{"encrypt", answer(exchange{method: "POST", uri: "/keys/aes/encrypt", accept: mimeJSON, contentType: mimeJSON,
			body: `{"mode":"AES_CBC","message":"cGxhaW4="}`}, 200, `{"encrypted":"+/8=","iv":"AQID"}`),
			func(ctx context.Context, c *Client) (any, error) {
				return c.Encrypt(ctx, "aes", EncryptRequest{Mode: EncryptModeAESCBC, Message: []byte("plain")})
			}, EncryptResponse{Encrypted: []byte{0xfb, 0xff}, IV: []byte{1, 2, 3}}},
		{"public pem", raw(exchange{method: "GET", uri: "/keys/k1/public.pem", accept: mimePEM}, mimePEM, pemText),
			func(ctx context.Context, c *Client) (any, error) { return c.KeyPublicPEM(ctx, "k1") }, []byte(pemText)},
		{"csr leaves SANs to the appliance when nil", raw(exchange{method: "POST", uri: "/keys/k1/csr.pem", accept: mimePEM, contentType: mimeJSON,
			body: `{"organizationName":"Example","commonName":"signer"}`}, mimePEM, pemText),
			func(ctx context.Context, c *Client) (any, error) {
				return c.KeyCSR(ctx, "k1", DistinguishedName{OrganizationName: "Example", CommonName: "signer"})
			}, []byte(pemText)},
		{"csr without SAN extension when empty", raw(exchange{method: "POST", uri: "/keys/k1/csr.pem", accept: mimePEM, contentType: mimeJSON,
			body: `{"commonName":"signer","subjectAltNames":[]}`}, mimePEM, pemText),
			func(ctx context.Context, c *Client) (any, error) {
				return c.KeyCSR(ctx, "k1", DistinguishedName{CommonName: "signer", SubjectAltNames: []string{}})
			}, []byte(pemText)},
		{"cert get", raw(exchange{method: "GET", uri: "/keys/k1/cert", accept: mimeOctet}, mimeOctet, "\x30\x82\x00\x01"),
			func(ctx context.Context, c *Client) (any, error) { return c.KeyCert(ctx, "k1") }, []byte{0x30, 0x82, 0, 1}},
		{"cert set", exchange{method: "PUT", uri: "/keys/k1/cert", accept: mimeJSON, contentType: mimeOctet, body: "\x30\x82\x00\x01", status: 201},
			func(ctx context.Context, c *Client) (any, error) {
				return none(c.SetKeyCert(ctx, "k1", []byte{0x30, 0x82, 0, 1}))
			}, nil},
		{"cert delete", noContent(exchange{method: "DELETE", uri: "/keys/k1/cert", accept: mimeJSON}),
			func(ctx context.Context, c *Client) (any, error) { return none(c.DeleteKeyCert(ctx, "k1")) }, nil},
	})
}
