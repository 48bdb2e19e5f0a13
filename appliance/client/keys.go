package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"path"
)

// KeyListOptions narrows Keys.
type KeyListOptions struct {
	// Filter, when not empty, asks for only the keys the caller may use
	// under their restrictions; the API looks at presence, not value.
	Filter string
	// Label, when not empty, asks for only the keys with this label.
	Label string
}

// Keys lists the key IDs in the caller's namespace.
func (c *Client) Keys(ctx context.Context, opts KeyListOptions) ([]string, error) {
	q := url.Values{}
	if opts.Filter != "" {
		q.Set("filter", opts.Filter)
	}
	if opts.Label != "" {
		q.Set("label", opts.Label)
	}
	return c.listIDs(ctx, "/keys", q)
}

// KeysWithPrefix lists the key IDs that start with prefix; filter works as
// in KeyListOptions.
func (c *Client) KeysWithPrefix(ctx context.Context, prefix, filter string) ([]string, error) {
	q := url.Values{}
	if filter != "" {
		q.Set("filter", filter)
	}
	p := pathf("/keys/%s", prefix)
	if p != "" {
		p += "*" // the API's prefix-match marker, not part of the ID
	}
	return c.listIDs(ctx, p, q)
}

// Key returns a key's public part and metadata.
func (c *Client) Key(ctx context.Context, id string) (PublicKey, error) {
	var k PublicKey
	err := c.doJSON(ctx, http.MethodGet, pathf("/keys/%s", id), nil, nil, &k)
	return k, err
}

// GenerateKey creates a key inside the appliance and returns its ID.
func (c *Client) GenerateKey(ctx context.Context, req KeyGenerateRequest) (string, error) {
	return c.create(ctx, http.MethodPost, "/keys/generate", req)
}

// ImportKey stores key material under id, or under an ID the appliance
// chooses when id is empty, and returns the ID.
func (c *Client) ImportKey(ctx context.Context, id string, key PrivateKey) (string, error) {
	if id == "" {
		return c.create(ctx, http.MethodPost, "/keys", key)
	}
	return id, c.doJSON(ctx, http.MethodPut, pathf("/keys/%s", id), nil, key, nil)
}

// ImportKeyPEM stores a PEM private key (PKCS#8 or the legacy RSA/EC forms)
// like ImportKey, sent as multipart/form-data with an "arguments" JSON part
// and a "key_file" PEM part.
func (c *Client) ImportKeyPEM(ctx context.Context, id string, args KeyImportArguments, keyPEM []byte) (string, error) {
	body, contentType, err := keyPEMForm(args, keyPEM)
	if err != nil {
		return "", err
	}
	r := request{method: http.MethodPost, path: "/keys", contentType: contentType, body: body, accept: mimeJSON}
	if id == "" {
		return c.createRaw(ctx, r)
	}
	r.method, r.path = http.MethodPut, pathf("/keys/%s", id)
	_, err = c.doRaw(ctx, r)
	return id, err
}

// DeleteKey removes a key.
func (c *Client) DeleteKey(ctx context.Context, id string) error {
	return c.doJSON(ctx, http.MethodDelete, pathf("/keys/%s", id), nil, nil, nil)
}

// MoveKey renames a key and returns the ID the appliance reports for it.
func (c *Client) MoveKey(ctx context.Context, id, newID string) (string, error) {
	var out idItem
	err := c.doJSON(ctx, http.MethodPost, pathf("/keys/%s/move", id), nil, moveRequest{NewID: newID}, &out)
	return out.ID, err
}

// SetKeyLabel sets a key's label.
func (c *Client) SetKeyLabel(ctx context.Context, id, label string) error {
	return c.doJSON(ctx, http.MethodPut, pathf("/keys/%s/label", id), nil, labelRequest{Label: label}, nil)
}

// DeleteKeyLabel removes a key's label.
func (c *Client) DeleteKeyLabel(ctx context.Context, id string) error {
	return c.doJSON(ctx, http.MethodDelete, pathf("/keys/%s/label", id), nil, nil, nil)
}

// AddKeyRestrictionTag lets users with tag use the key.
func (c *Client) AddKeyRestrictionTag(ctx context.Context, id, tag string) error {
	return c.doJSON(ctx, http.MethodPut, pathf("/keys/%s/restrictions/tags/%s", id, tag), nil, nil, nil)
}

// RemoveKeyRestrictionTag removes tag from the key's restrictions.
func (c *Client) RemoveKeyRestrictionTag(ctx context.Context, id, tag string) error {
	return c.doJSON(ctx, http.MethodDelete, pathf("/keys/%s/restrictions/tags/%s", id, tag), nil, nil, nil)
}

// listIDs fetches a list of {"id": ...} items and returns the IDs.
func (c *Client) listIDs(ctx context.Context, p string, q url.Values) ([]string, error) {
	var items []idItem
	if err := c.doJSON(ctx, http.MethodGet, p, q, nil, &items); err != nil {
		return nil, err
	}
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.ID
	}
	return ids, nil
}

// create sends in as JSON to an endpoint that answers 201 with the new ID.
func (c *Client) create(ctx context.Context, method, p string, in any) (string, error) {
	b, err := encodeJSON(method, p, in)
	if err != nil {
		return "", err
	}
	return c.createRaw(ctx, request{method: method, path: p, contentType: mimeJSON, body: b, accept: mimeJSON})
}

// createRaw sends r and returns the new resource's ID from the JSON answer,
// or from the Location header when the answer has no body.
func (c *Client) createRaw(ctx context.Context, r request) (string, error) {
	resp, err := c.send(ctx, r)
	if err != nil {
		return "", err
	}
	defer closeBody(resp)
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if err != nil {
		return "", fmt.Errorf("read %s %s response: %w", r.method, r.path, err)
	}
	if len(bytes.TrimSpace(body)) > 0 {
		var out idItem
		if err := json.Unmarshal(body, &out); err != nil {
			return "", fmt.Errorf("decode %s %s response: %w", r.method, r.path, err)
		}
		if out.ID != "" {
			return out.ID, nil
		}
	}
	return idFromLocation(resp.Header.Get("Location"), r)
}

func idFromLocation(loc string, r request) (string, error) {
	u, err := url.Parse(loc)
	if loc == "" || err != nil {
		return "", fmt.Errorf("%s %s: answer names no created id", r.method, r.path)
	}
	return path.Base(u.Path), nil
}

// keyPEMForm builds the multipart body of a PEM key import.
func keyPEMForm(args KeyImportArguments, keyPEM []byte) ([]byte, string, error) {
	argJSON, err := json.Marshal(args)
	if err != nil {
		return nil, "", fmt.Errorf("encode key import arguments: %w", err)
	}
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	parts := []struct {
		disposition, contentType string
		data                     []byte
	}{
		{`form-data; name="arguments"`, mimeJSON, argJSON},
		{`form-data; name="key_file"; filename="key.pem"`, mimePEM, keyPEM},
	}
	for _, p := range parts {
		h := textproto.MIMEHeader{"Content-Disposition": {p.disposition}, "Content-Type": {p.contentType}}
		pw, err := w.CreatePart(h)
		if err != nil {
			return nil, "", fmt.Errorf("build key import form: %w", err)
		}
		_, _ = pw.Write(p.data) // writes to a bytes.Buffer cannot fail
	}
	if err := w.Close(); err != nil {
		return nil, "", fmt.Errorf("build key import form: %w", err)
	}
	return buf.Bytes(), w.FormDataContentType(), nil
}
