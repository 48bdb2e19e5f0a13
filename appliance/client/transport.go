package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// maxBody bounds a successful answer; the largest documented one is a
// certificate of at most 1 MB.
const maxBody = 16 << 20

// Content types used on the wire.
const (
	mimeJSON  = "application/json"
	mimePEM   = "application/x-pem-file"
	mimeOctet = "application/octet-stream"
)

// ErrEmptyID is returned, before anything is sent, by every method given an
// empty identifier (key, user, namespace, tag or prefix): an empty path
// segment would address a different resource.
var ErrEmptyID = errors.New("empty identifier in request path")

// request is one API call before it is sent.
type request struct {
	method      string
	path        string // already escaped, relative to the API base
	query       url.Values
	contentType string
	body        []byte
	accept      string
	// stream, when set, is sent instead of body as it is read, for uploads
	// too large to hold in memory. It cannot be replayed, so net/http never
	// retries such a request.
	stream io.Reader
}

// send performs r and returns the response of a 2xx answer with its body
// still open; any other status is drained, closed and returned as *APIError.
func (c *Client) send(ctx context.Context, r request) (*http.Response, error) {
	if r.path == "" {
		return nil, ErrEmptyID
	}
	target := c.base + r.path
	if len(r.query) > 0 {
		target += "?" + r.query.Encode()
	}
	var body io.Reader
	switch {
	case r.stream != nil:
		body = r.stream
	case r.body != nil:
		// A bytes.Reader lets net/http replay the body on a retried request.
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, target, body)
	if err != nil {
		return nil, fmt.Errorf("build %s %s request: %w", r.method, r.path, err)
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	req.Header.Set("Accept", r.accept)
	req.Header.Set("User-Agent", "keywarden-client/1")
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err // *url.Error already names the method and URL
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer closeBody(resp)
		return nil, decodeAPIError(resp)
	}
	return resp, nil
}

// closeBody drains what is left of the body so the connection goes back to
// the keep-alive pool instead of being torn down.
func closeBody(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	_ = resp.Body.Close()
}

// doJSON sends in (when not nil) as JSON and decodes a JSON answer into out
// (when not nil).
func (c *Client) doJSON(ctx context.Context, method, path string, query url.Values, in, out any) error {
	r := request{method: method, path: path, query: query, accept: mimeJSON}
	if in != nil {
		b, err := encodeJSON(method, path, in)
		if err != nil {
			return err
		}
		r.body, r.contentType = b, mimeJSON
	}
	resp, err := c.send(ctx, r)
	if err != nil {
		return err
	}
	defer closeBody(resp)
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(out); err != nil {
		return fmt.Errorf("decode %s %s response: %w", method, path, err)
	}
	return nil
}

// doRaw sends body with contentType and returns the raw answer, for the
// endpoints that speak PEM or octet streams instead of JSON.
func (c *Client) doRaw(ctx context.Context, r request) ([]byte, error) {
	resp, err := c.send(ctx, r)
	if err != nil {
		return nil, err
	}
	defer closeBody(resp)
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("read %s %s response: %w", r.method, r.path, err)
	}
	if len(b) > maxBody {
		return nil, fmt.Errorf("read %s %s response: larger than %d bytes", r.method, r.path, maxBody)
	}
	return b, nil
}

// pathf formats an API path, escaping every argument as one path segment so
// an identifier can never change which resource is addressed. It returns ""
// when a segment is empty, which send rejects with ErrEmptyID.
func pathf(format string, segments ...string) string {
	args := make([]any, len(segments))
	for i, s := range segments {
		if s == "" {
			return ""
		}
		args[i] = url.PathEscape(s)
	}
	return fmt.Sprintf(format, args...)
}

func encodeJSON(method, path string, in any) ([]byte, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("encode %s %s request: %w", method, path, err)
	}
	return b, nil
}
