package main

import (
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// This file holds a protocol-recording HTTPS server for the kwctl tests.
// It is NOT a stand-in for the appliance: it keeps no state and implements
// no API logic. It records the requests kwctl sends, so tests can assert
// the exact wire traffic a command line produces, and replays canned
// answers shaped like the API reference. End-to-end tests against the real
// keywardend come with the daemon.

// fixedNow is the clock of every test run of kwctl.
var fixedNow = time.Date(2026, 1, 2, 3, 4, 5, 600_000_000, time.UTC)

// recorded is one request as kwctl sent it.
type recorded struct {
	method, uri, contentType string
	user, pass               string
	body                     string
}

// canned is the answer to one "METHOD /api/v1/..." request line.
type canned struct {
	status      int
	contentType string
	body        string
}

type apiRecorder struct {
	srv     *httptest.Server
	caFile  string
	answers map[string]canned

	mu   sync.Mutex
	reqs []recorded
}

func newAPIRecorder(t *testing.T, answers map[string]canned) *apiRecorder {
	t.Helper()
	rec := &apiRecorder{answers: answers}
	rec.srv = httptest.NewTLSServer(http.HandlerFunc(rec.serve))
	t.Cleanup(rec.srv.Close)
	rec.caFile = writeTemp(t, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rec.srv.Certificate().Raw})))
	return rec
}

func (rec *apiRecorder) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	user, pass, _ := r.BasicAuth()
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, recorded{r.Method, r.RequestURI, r.Header.Get("Content-Type"), user, pass, string(body)})
	rec.mu.Unlock()
	a, ok := rec.answers[r.Method+" "+r.RequestURI]
	if !ok {
		a = canned{status: 599, contentType: "application/json", body: `{"message":"recorder: no canned answer"}`}
	}
	if a.contentType != "" {
		w.Header().Set("Content-Type", a.contentType)
	}
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)
}

func (rec *apiRecorder) requests() []recorded {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]recorded(nil), rec.reqs...)
}

// url is the API base of the recorder.
func (rec *apiRecorder) url() string { return rec.srv.URL + "/api/v1" }

// result is what one kwctl run produced.
type result struct {
	code           int
	stdout, stderr string
}

// runKwctl runs kwctl in-process with the given environment and stdin.
func runKwctl(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var out, errOut strings.Builder
	a := &app{
		stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut,
		getenv: func(k string) string { return env[k] },
		now:    func() time.Time { return fixedNow },
	}
	code := a.run(t.Context(), args)
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatalf("write %s: %v", p, err)
	}
	return p
}
