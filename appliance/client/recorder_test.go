package client

import (
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// This file holds a protocol-recording HTTPS server for the client tests.
// It is NOT a stand-in for the appliance: it keeps no state and implements
// no API logic. It asserts that the client put exactly the expected method,
// path, query, headers and body on the wire, and answers with a canned
// response shaped like the API reference. End-to-end tests against the real
// keywardend come with the daemon.

const (
	testUser = "admin"
	testPass = "correct horse battery"
)

// exchange is one expected request and the canned answer to it.
type exchange struct {
	method      string
	uri         string // request URI as sent: escaped path under /api/v1 and query
	contentType string // request Content-Type; "" means no body at all
	accept      string
	body        string // exact request body; ignored when check is set
	check       func(t *testing.T, r *http.Request, body []byte)

	status     int
	respType   string
	respBody   string
	respHeader map[string]string
}

// recorder serves one exchange and counts how often it was hit.
type recorder struct {
	srv  *httptest.Server
	hits atomic.Int32
}

func newRecorder(t *testing.T, ex exchange) *recorder {
	t.Helper()
	rec := &recorder{}
	rec.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.hits.Add(1)
		checkRequest(t, ex, r)
		for k, v := range ex.respHeader {
			w.Header().Set(k, v)
		}
		if ex.respType != "" {
			w.Header().Set("Content-Type", ex.respType)
		}
		w.WriteHeader(ex.status)
		_, _ = io.WriteString(w, ex.respBody)
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func checkRequest(t *testing.T, ex exchange, r *http.Request) {
	t.Helper()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		t.Errorf("read request body: %v", err)
	}
	got := map[string][2]string{
		"method":       {r.Method, ex.method},
		"uri":          {r.RequestURI, "/api/v1" + ex.uri},
		"content type": {mediaType(r.Header.Get("Content-Type")), ex.contentType},
		"accept":       {r.Header.Get("Accept"), ex.accept},
	}
	for what, gw := range got {
		if gw[0] != gw[1] {
			t.Errorf("request %s: got %q, want %q", what, gw[0], gw[1])
		}
	}
	if u, p, ok := r.BasicAuth(); !ok || u != testUser || p != testPass {
		t.Errorf("basic auth: got %q/%q (present %v), want %q/%q", u, p, ok, testUser, testPass)
	}
	if ex.check != nil {
		ex.check(t, r, body)
		return
	}
	if string(body) != ex.body {
		t.Errorf("request body:\n got %s\nwant %s", body, ex.body)
	}
}

// client returns a Client that trusts the recorder's certificate.
func (rec *recorder) client(t *testing.T) *Client {
	t.Helper()
	c, err := New(Options{URL: rec.srv.URL + "/api/v1", User: testUser, Passphrase: testPass, CACertPEM: certPEM(rec.srv)})
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func certPEM(srv *httptest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}

// mediaType drops parameters such as the multipart boundary, which is
// random; the checks of a multipart body look at the boundary themselves.
func mediaType(contentType string) string {
	mt, _, _ := strings.Cut(contentType, ";")
	return mt
}
