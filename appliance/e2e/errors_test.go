package e2e

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/appliance/apptest"
	"github.com/keywarden/keywarden/appliance/client"
)

// rawClient sends hand-built requests: the malformed ones the Go client
// refuses to build, and the well-formed ones whose status or headers the Go
// client does not expose. Each rawClient dials from its own loopback address
// so that deliberate authentication failures are charged to it alone.
type rawClient struct {
	d  *apptest.Daemon
	hc *http.Client
}

// rawReq is one hand-built request; empty fields are not sent.
type rawReq struct {
	method, path  string // path is relative to the API base
	user, pass    string
	ctype, accept string
	body          string
}

type rawResp struct {
	status int
	header http.Header
	body   []byte
}

func newRaw(t *testing.T, d *apptest.Daemon, from net.IP) *rawClient {
	t.Helper()
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		DialContext:     (&net.Dialer{LocalAddr: &net.TCPAddr{IP: from}}).DialContext,
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(hc.CloseIdleConnections)
	return &rawClient{d: d, hc: hc}
}

func (c *rawClient) do(t *testing.T, r rawReq) rawResp {
	t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(apptest.Context(t), r.method, c.d.URL+r.path, body)
	if err != nil {
		t.Fatalf("build %s %s: %v", r.method, r.path, err)
	}
	if r.user != "" {
		req.SetBasicAuth(r.user, r.pass)
	}
	if r.ctype != "" {
		req.Header.Set("Content-Type", r.ctype)
	}
	if r.accept != "" {
		req.Header.Set("Accept", r.accept)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", r.method, r.path, err)
	}
	return rawResp{status: resp.StatusCode, header: resp.Header, body: b}
}

// want fails unless r has status want (any 4xx when want is 0); for a 4xx
// or 5xx it also checks the body is a JSON object with a non-empty "message".
func (r rawResp) want(t *testing.T, what string, want int) {
	t.Helper()
	if r.status != want && (want != 0 || r.status < 400 || r.status > 499) {
		t.Fatalf("%s: got status %d (%s), want %d", what, r.status, bytes.TrimSpace(r.body), want)
	}
	if r.status >= 400 {
		wantErrorBody(t, what, r)
	}
}

func wantErrorBody(t *testing.T, what string, r rawResp) {
	t.Helper()
	var msg struct {
		Message *string `json:"message"`
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: error answer has Content-Type %q, want application/json", what, ct)
	}
	if err := json.Unmarshal(r.body, &msg); err != nil || msg.Message == nil || *msg.Message == "" {
		t.Errorf("%s: error body %q, want JSON with a non-empty message", what, r.body)
	}
}

// errorCase is one malformed or refused request and the status it must get.
type errorCase struct {
	name string
	req  rawReq
	want int
}

func errorCases() []errorCase {
	gen := `{"type":"EC_P256","mechanisms":["ECDSA_Signature"]}`
	adm := func(method, path, ctype, body string) rawReq {
		return rawReq{method: method, path: path, user: "admin", pass: adminPass, ctype: ctype, body: body}
	}
	op := func(body string) rawReq {
		return rawReq{method: "POST", path: "/random", user: "operator1", pass: operatorPass, ctype: "application/json", body: body}
	}
	long := strings.Repeat("k", 129)
	return []errorCase{
		{"unknown JSON field", adm("POST", "/keys/generate", "application/json", `{"type":"EC_P256","mechanisms":["ECDSA_Signature"],"colour":"red"}`), 400},
		{"trailing garbage", adm("POST", "/keys/generate", "application/json", gen+` garbage`), 400},
		{"two JSON objects", adm("POST", "/keys/generate", "application/json", gen+gen), 400},
		{"truncated JSON", adm("POST", "/keys/generate", "application/json", gen[:20]), 400},
		{"empty body", adm("POST", "/keys/generate", "application/json", ""), 400},
		{"wrong field type", adm("POST", "/keys/generate", "application/json", `{"type":7,"mechanisms":["ECDSA_Signature"]}`), 400},
		{"text/plain body", adm("POST", "/keys/generate", "text/plain", gen), 415},
		{"no Content-Type", adm("POST", "/keys/generate", "", gen), 415},
		{"form Content-Type", adm("PUT", "/users/u1", "application/x-www-form-urlencoded", "realName=x"), 415},
		{"Accept text/html", rawReq{method: "GET", path: "/keys", user: "admin", pass: adminPass, accept: "text/html"}, 406},
		{"Accept text/html on /info", rawReq{method: "GET", path: "/info", accept: "text/html"}, 406},
		{"unknown endpoint", rawReq{method: "GET", path: "/no/such/endpoint", user: "admin", pass: adminPass}, 404},
		{"unknown endpoint anonymous", rawReq{method: "GET", path: "/nothing"}, 404},
		{"wrong method", rawReq{method: "PATCH", path: "/keys", user: "admin", pass: adminPass}, 0},
		{"key ID with $", rawReq{method: "GET", path: "/keys/bad$id", user: "admin", pass: adminPass}, 400},
		{"key ID with space", rawReq{method: "GET", path: "/keys/bad%20id", user: "admin", pass: adminPass}, 400},
		{"key ID with leading dot", rawReq{method: "GET", path: "/keys/.hidden", user: "admin", pass: adminPass}, 400},
		{"key ID with ~", rawReq{method: "DELETE", path: "/keys/ns~key", user: "admin", pass: adminPass}, 400},
		{"key ID of 129 characters", rawReq{method: "GET", path: "/keys/" + long, user: "admin", pass: adminPass}, 400},
		{"generate with a bad ID", adm("POST", "/keys/generate", "application/json", `{"type":"EC_P256","mechanisms":["ECDSA_Signature"],"id":"no/slash"}`), 400},
		{"user ID with two ~", adm("PUT", "/users/a~b~c", "application/json", `{"realName":"x","role":"Operator","passphrase":"long-enough-passphrase"}`), 400},
		{"unknown key type", adm("POST", "/keys/generate", "application/json", `{"type":"DSA","mechanisms":["ECDSA_Signature"]}`), 400},
		{"unknown mechanism", adm("POST", "/keys/generate", "application/json", `{"type":"EC_P256","mechanisms":["Magic"]}`), 400},
		{"oversized body", adm("POST", "/keys/generate", "application/json", `{"type":"`+strings.Repeat("x", 300<<10)+`"}`), 400},
		{"JSON null", adm("POST", "/keys/generate", "application/json", `null`), 400},
		{"JSON array", adm("POST", "/keys/generate", "application/json", `[]`), 400},
		{"message not base64", rawReq{method: "POST", path: "/keys/nokey/sign", user: "operator1", pass: operatorPass, ctype: "application/json", body: `{"mode":"ECDSA","message":"%%%"}`}, 400},
		{"unknown sign mode", rawReq{method: "POST", path: "/keys/nokey/sign", user: "operator1", pass: operatorPass, ctype: "application/json", body: `{"mode":"RSA","message":"AAAA"}`}, 400},
		{"random length 0", op(`{"length":0}`), 400},
		{"random length 1025", op(`{"length":1025}`), 400},
		{"random length -1", op(`{"length":-1}`), 400},
		{"random without length", op(`{}`), 400},
		{"random length as string", op(`{"length":"8"}`), 400},
		{"anonymous", rawReq{method: "GET", path: "/keys"}, 401},
		{"wrong passphrase", rawReq{method: "GET", path: "/keys", user: "admin", pass: "wrong-passphrase-1"}, 401},
		{"operator on an admin endpoint", rawReq{method: "GET", path: "/users", user: "operator1", pass: operatorPass}, 403},
		{"provision when provisioned", rawReq{method: "POST", path: "/provision", ctype: "application/json", body: `{}`}, 412},
		{"missing key", rawReq{method: "GET", path: "/keys/nokey", user: "admin", pass: adminPass}, 404},
	}
}

// TestRequestErrors checks that malformed and refused requests get the
// reference API's status and, always, a JSON body with a message.
func TestRequestErrors(t *testing.T) {
	d := apptest.Start(t, apptest.Options{})
	provision(t, d)
	ctx := apptest.Context(t)
	admin := d.Client("admin", adminPass)
	if err := admin.AddUser(ctx, "operator1", client.NewUser{RealName: "Op", Role: "Operator", Passphrase: operatorPass}); err != nil {
		t.Fatalf("add operator: %v", err)
	}
	raw := newRaw(t, d, net.IPv4(127, 0, 9, 1))
	for _, tc := range errorCases() {
		t.Run(tc.name, func(t *testing.T) {
			raw.do(t, tc.req).want(t, tc.req.method+" "+tc.req.path, tc.want)
		})
	}
	if keys, err := admin.Keys(ctx, client.KeyListOptions{}); err != nil || len(keys) != 0 {
		t.Errorf("keys after refused requests: got %v, %v; want none", keys, err)
	}

	for _, h := range []struct{ ctype, accept string }{
		{"application/json; charset=utf-8", ""}, {"application/json", "*/*"},
		{"application/json", "application/*"}, {"application/json", "text/html, application/json;q=0.9"},
	} {
		raw.do(t, rawReq{method: "POST", path: "/random", user: "operator1", pass: operatorPass, ctype: h.ctype, accept: h.accept, body: `{"length":8}`}).
			want(t, "random with Content-Type "+h.ctype+" and Accept "+h.accept, 200)
	}
	op := d.Client("operator1", operatorPass)
	for _, n := range []int{1, 1024} {
		b, err := op.Random(ctx, n)
		if err != nil || len(b) != n {
			t.Errorf("random %d: got %d bytes, %v; want %d bytes", n, len(b), err, n)
		}
	}
}

// exhaust spends the failed-authentication budget of raw's address and then
// checks that even the right credentials are refused there with 429.
func exhaust(t *testing.T, raw *rawClient, what string, wrong, right rawReq, wrongStatus int) {
	t.Helper()
	for n := 1; n <= 10; n++ {
		raw.do(t, wrong).want(t, fmt.Sprintf("%s: failure %d", what, n), wrongStatus)
	}
	raw.do(t, right).want(t, what+": the right credentials after 10 failures", http.StatusTooManyRequests)
}

// TestRateLimit exhausts the failed-authentication budget of one address,
// for Basic authentication and for /unlock, and checks that other addresses
// are not affected.
func TestRateLimit(t *testing.T) {
	d := apptest.Start(t, apptest.Options{})
	provision(t, d)
	keys := func(pass string) rawReq { return rawReq{method: "GET", path: "/keys", user: "admin", pass: pass} }
	exhaust(t, newRaw(t, d, net.IPv4(127, 0, 7, 1)), "basic auth", keys("wrong-passphrase-5"), keys(adminPass), 401)
	newRaw(t, d, net.IPv4(127, 0, 7, 2)).do(t, keys(adminPass)).want(t, "basic auth from another address", 200)

	if err := d.Client("admin", adminPass).Lock(apptest.Context(t)); err != nil {
		t.Fatalf("lock: %v", err)
	}
	unlock := func(p string) rawReq {
		return rawReq{method: "POST", path: "/unlock", ctype: "application/json", body: `{"passphrase":"` + p + `"}`}
	}
	exhaust(t, newRaw(t, d, net.IPv4(127, 0, 7, 3)), "unlock", unlock("wrong-passphrase-4"), unlock(unlockPass), 403)
	newRaw(t, d, net.IPv4(127, 0, 7, 4)).do(t, unlock(unlockPass)).want(t, "unlock from another address", 204)
}
