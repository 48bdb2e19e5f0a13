package client

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestNewValidatesOptions(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	goodCA := certPEM(srv)
	tests := []struct {
		name    string
		opts    Options
		wantURL string // empty means New must fail
	}{
		{"default url", Options{Insecure: true}, DefaultURL},
		{"trailing slash trimmed", Options{URL: "https://hsm.example:8443/api/v1/", Insecure: true}, "https://hsm.example:8443/api/v1"},
		{"plain http allowed", Options{URL: "http://127.0.0.1:8080/api/v1"}, "http://127.0.0.1:8080/api/v1"},
		{"ca only", Options{URL: "https://hsm.example/api/v1", CACertPEM: goodCA}, "https://hsm.example/api/v1"},
		{"other scheme", Options{URL: "ftp://hsm.example/api/v1", Insecure: true}, ""},
		{"no host", Options{URL: "https:///api/v1", Insecure: true}, ""},
		{"unparsable", Options{URL: "https://hsm.example:port/", Insecure: true}, ""},
		{"query", Options{URL: "https://hsm.example/api/v1?x=1", Insecure: true}, ""},
		{"ca and insecure", Options{CACertPEM: goodCA, Insecure: true}, ""},
		{"ca without certificate", Options{CACertPEM: []byte("not a pem")}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.opts)
			if tc.wantURL == "" {
				if err == nil {
					t.Fatalf("New: got client for %s, want error", c.URL())
				}
				return
			}
			if err != nil {
				t.Fatalf("New: got error %v, want none", err)
			}
			if c.URL() != tc.wantURL {
				t.Errorf("URL: got %q, want %q", c.URL(), tc.wantURL)
			}
		})
	}
}

func TestTLSVerification(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"state":"Operational"}`))
	}))
	defer srv.Close()
	tests := []struct {
		name    string
		opts    Options
		wantErr bool
	}{
		{"own ca", Options{CACertPEM: certPEM(srv)}, false},
		{"insecure", Options{Insecure: true}, false},
		{"system roots", Options{}, true},
		{"another ca", Options{CACertPEM: selfSignedPEM(t)}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.URL = srv.URL + "/api/v1"
			c, err := New(tc.opts)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			defer c.Close()
			state, err := c.State(t.Context())
			if (err != nil) != tc.wantErr {
				t.Fatalf("State: got %q, %v; want error %v", state, err, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "certificate") {
				t.Errorf("State error: got %v, want a certificate error", err)
			}
		})
	}
}

// countingServer is an HTTPS server that counts the connections it accepts
// and records the HTTP version and credentials of each request.
type countingServer struct {
	srv   *httptest.Server
	conns atomic.Int32
	mu    sync.Mutex
	seen  []string // "proto user" per request
}

func newCountingServer(t *testing.T, http2 bool) *countingServer {
	t.Helper()
	cs := &countingServer{}
	cs.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, _, _ := r.BasicAuth()
		cs.mu.Lock()
		cs.seen = append(cs.seen, r.Proto+" "+user)
		cs.mu.Unlock()
		_, _ = w.Write([]byte(`{"state":"Operational"}`))
	}))
	cs.srv.EnableHTTP2 = http2
	cs.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			cs.conns.Add(1)
		}
	}
	cs.srv.StartTLS()
	t.Cleanup(cs.srv.Close)
	return cs
}

func (cs *countingServer) client(t *testing.T, user string) *Client {
	t.Helper()
	c, err := New(Options{URL: cs.srv.URL + "/api/v1", User: user, Passphrase: "pw", CACertPEM: certPEM(cs.srv)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestConnectionReuse(t *testing.T) {
	tests := []struct {
		name      string
		http2     bool
		wantProto string
	}{
		{"http/1.1 keep-alive", false, "HTTP/1.1"},
		{"http/2", true, "HTTP/2.0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := newCountingServer(t, tc.http2)
			admin := cs.client(t, "admin")
			operator := admin.WithCredentials("operator", "pw2")
			for i := range 20 {
				c := admin
				if i%2 == 1 {
					c = operator
				}
				if _, err := c.State(t.Context()); err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
			}
			if n := cs.conns.Load(); n != 1 {
				t.Errorf("connections for 20 sequential requests by two users: got %d, want 1", n)
			}
			if want := tc.wantProto + " admin"; cs.seen[0] != want {
				t.Errorf("first request: got %q, want %q", cs.seen[0], want)
			}
			if want := tc.wantProto + " operator"; cs.seen[1] != want {
				t.Errorf("second request: got %q, want %q", cs.seen[1], want)
			}
		})
	}
}

// TestPoolKeepsConnectionsForConcurrency checks that the idle pool is sized
// for concurrent callers: after one burst, an equal burst dials nothing new.
// With net/http's default of 2 idle connections per host it would.
func TestPoolKeepsConnectionsForConcurrency(t *testing.T) {
	cs := newCountingServer(t, false)
	c := cs.client(t, "operator")
	burst(t, c, 8, 25)
	first := cs.conns.Load()
	if first > DefaultMaxConns {
		t.Fatalf("connections after first burst: got %d, want at most %d", first, DefaultMaxConns)
	}
	burst(t, c, 8, 25)
	if n := cs.conns.Load(); n != first {
		t.Errorf("connections after second burst: got %d, want %d (no new dials)", n, first)
	}
}

func burst(t *testing.T, c *Client, workers, each int) {
	t.Helper()
	var wg sync.WaitGroup
	var failed atomic.Int32
	for range workers {
		wg.Go(func() {
			for range each {
				if _, err := c.State(t.Context()); err != nil {
					failed.Add(1)
					t.Errorf("request: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.FailNow()
	}
}

// TestTLSSessionResumption checks the session cache: when the server drops
// the connection, the next handshake resumes instead of starting over.
func TestTLSSessionResumption(t *testing.T) {
	var mu sync.Mutex
	var resumed []bool
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		resumed = append(resumed, r.TLS.DidResume)
		mu.Unlock()
		w.Header().Set("Connection", "close")
		_, _ = w.Write([]byte(`{"state":"Locked"}`))
	}))
	defer srv.Close()
	c, err := New(Options{URL: srv.URL + "/api/v1", CACertPEM: certPEM(srv)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for i := range 3 {
		if _, err := c.State(t.Context()); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []bool{false, true, true}; !slices.Equal(resumed, want) {
		t.Errorf("resumed handshakes: got %v, want %v", resumed, want)
	}
}

func TestNoCredentialsSendsNoAuthorization(t *testing.T) {
	var got atomic.Value
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("Authorization"))
		_, _ = w.Write([]byte(`{"vendor":"v","product":"p"}`))
	}))
	defer srv.Close()
	c, err := New(Options{URL: srv.URL + "/api/v1", CACertPEM: certPEM(srv)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if _, err := c.Info(t.Context()); err != nil {
		t.Fatalf("Info: %v", err)
	}
	if h := got.Load().(string); h != "" {
		t.Errorf("Authorization: got %q, want none", h)
	}
}

func TestProbes(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		want    bool
		wantErr bool
	}{
		{"ok", 200, true, false},
		{"wrong state", 412, false, false},
		{"server error", 500, false, true},
		{"unauthorized", 401, false, true},
	}
	probes := map[string]func(*Client, context.Context) (bool, error){
		"/health/alive": (*Client).Alive,
		"/health/ready": (*Client).Ready,
	}
	for path, probe := range probes {
		for _, tc := range tests {
			t.Run(path+" "+tc.name, func(t *testing.T) {
				rec := newRecorder(t, exchange{method: "GET", uri: path, accept: mimeJSON, status: tc.status})
				got, err := probe(rec.client(t), t.Context())
				if got != tc.want || (err != nil) != tc.wantErr {
					t.Errorf("probe: got %v, %v; want %v, error %v", got, err, tc.want, tc.wantErr)
				}
			})
		}
	}
}

func TestEmptyIDSendsNothing(t *testing.T) {
	rec := newRecorder(t, exchange{status: 204})
	c := rec.client(t)
	ctx := t.Context()
	calls := map[string]func() error{
		"key":        func() error { _, err := c.Key(ctx, ""); return err },
		"delete key": func() error { return c.DeleteKey(ctx, "") },
		"prefix":     func() error { _, err := c.KeysWithPrefix(ctx, "", ""); return err },
		"user tag":   func() error { return c.AddUserTag(ctx, "op", "") },
		"sign":       func() error { _, err := c.Sign(ctx, "", SignRequest{}); return err },
		"move":       func() error { _, err := c.MoveKey(ctx, "", "k2"); return err },
		"key cert":   func() error { _, err := c.KeyCert(ctx, ""); return err },
		"namespace":  func() error { return c.DeleteNamespace(ctx, "") },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			if err := call(); !errors.Is(err, ErrEmptyID) {
				t.Errorf("error: got %v, want ErrEmptyID", err)
			}
		})
	}
	if n := rec.hits.Load(); n != 0 {
		t.Errorf("requests sent: got %d, want 0", n)
	}
}

func TestTimeoutAndCancel(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer srv.Close()
	c, err := New(Options{URL: srv.URL + "/api/v1", CACertPEM: certPEM(srv), Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	start := time.Now()
	if _, err := c.State(t.Context()); err == nil || time.Since(start) > 2*time.Second {
		t.Errorf("timeout: got %v after %v, want an error within 2s", err, time.Since(start))
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.WithCredentials("u", "p").State(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: got %v, want context.Canceled", err)
	}
	if err := errors.Join(c.Close(), c.Close()); err != nil {
		t.Errorf("Close twice: got %v, want nil", err)
	}
}

// selfSignedPEM makes a CA certificate that signed nothing the test servers
// present (all httptest servers share one built-in certificate).
func selfSignedPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "other ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("create certificate: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
