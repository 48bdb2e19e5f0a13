package client

import (
	"context"
	"net/http"
)

// Sign signs with a key (Operator) and returns the raw signature.
func (c *Client) Sign(ctx context.Context, id string, req SignRequest) ([]byte, error) {
	var out signData
	err := c.doJSON(ctx, http.MethodPost, pathf("/keys/%s/sign", id), nil, req, &out)
	return out.Signature, err
}

// Decrypt decrypts with a key (Operator) and returns the plaintext.
func (c *Client) Decrypt(ctx context.Context, id string, req DecryptRequest) ([]byte, error) {
	var out decryptData
	err := c.doJSON(ctx, http.MethodPost, pathf("/keys/%s/decrypt", id), nil, req, &out)
	return out.Decrypted, err
}

// Encrypt encrypts with a symmetric key (Operator).
func (c *Client) Encrypt(ctx context.Context, id string, req EncryptRequest) (EncryptResponse, error) {
	var out EncryptResponse
	err := c.doJSON(ctx, http.MethodPost, pathf("/keys/%s/encrypt", id), nil, req, &out)
	return out, err
}

// KeyPublicPEM returns a key's public key as PEM.
func (c *Client) KeyPublicPEM(ctx context.Context, id string) ([]byte, error) {
	return c.doRaw(ctx, request{method: http.MethodGet, path: pathf("/keys/%s/public.pem", id), accept: mimePEM})
}

// KeyCSR returns a PEM certificate signing request for a key, signed by it.
func (c *Client) KeyCSR(ctx context.Context, id string, dn DistinguishedName) ([]byte, error) {
	return c.pemForJSON(ctx, pathf("/keys/%s/csr.pem", id), dn)
}

// KeyCert returns the certificate stored with a key, exactly as stored.
func (c *Client) KeyCert(ctx context.Context, id string) ([]byte, error) {
	return c.doRaw(ctx, request{method: http.MethodGet, path: pathf("/keys/%s/cert", id), accept: mimeOctet})
}

// SetKeyCert stores a certificate with a key; the answer is 409 when one is
// already stored.
func (c *Client) SetKeyCert(ctx context.Context, id string, cert []byte) error {
	_, err := c.doRaw(ctx, request{method: http.MethodPut, path: pathf("/keys/%s/cert", id),
		contentType: mimeOctet, body: nonNil(cert), accept: mimeJSON})
	return err
}

// DeleteKeyCert removes the certificate stored with a key.
func (c *Client) DeleteKeyCert(ctx context.Context, id string) error {
	return c.doJSON(ctx, http.MethodDelete, pathf("/keys/%s/cert", id), nil, nil, nil)
}

// pemForJSON posts a JSON body to an endpoint that answers with PEM.
func (c *Client) pemForJSON(ctx context.Context, p string, in any) ([]byte, error) {
	body, err := encodeJSON(http.MethodPost, p, in)
	if err != nil {
		return nil, err
	}
	return c.doRaw(ctx, request{method: http.MethodPost, path: p, contentType: mimeJSON, body: body, accept: mimePEM})
}

// nonNil makes an empty upload still carry a body, so the server sees an
// empty document rather than a missing one.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
