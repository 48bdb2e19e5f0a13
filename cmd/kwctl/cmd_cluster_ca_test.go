package main

import (
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// issue has ca (whose key is caKey) certify key for TLS at ips, valid
// around fixedNow and the real clock, as a chain ready to serve.
func issue(t *testing.T, ca testCA, caKey, key crypto.Signer, ips ...string) tls.Certificate {
	t.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: serial, NotBefore: fixedNow.Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.cert.Raw}, PrivateKey: key}
}

// chainPEM is the PEM of a served chain, as PUT /config/tls/cert.pem takes it.
func chainPEM(c tls.Certificate) string {
	var b strings.Builder
	for _, der := range c.Certificate {
		b.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	}
	return b.String()
}

// newRecertifyingRecorder is an apiRecorder that presents boot until it has
// answered the request line trigger, then next: like an appliance that
// installs a new certificate. It closes every connection and issues no
// session tickets, so kwctl verifies the certificate on every request and
// a client that does not trust next fails.
func newRecertifyingRecorder(t *testing.T, answers map[string]canned, boot, next tls.Certificate, trigger string) *apiRecorder {
	t.Helper()
	rec := &apiRecorder{answers: answers}
	var switched atomic.Bool
	rec.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		rec.serve(w, r)
		if r.Method+" "+r.RequestURI == trigger {
			switched.Store(true) // before the handler returns, so before kwctl reads the answer
		}
	}))
	rec.srv.TLS = &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		cert := boot
		if switched.Load() {
			cert = next
		}
		return &tls.Config{Certificates: []tls.Certificate{cert}, SessionTicketsDisabled: true}, nil
	}}
	rec.srv.StartTLS()
	t.Cleanup(rec.srv.Close)
	return rec
}

// TestClusterFullJoinClusterCAProtocol runs fulljoin without --ca-cert and
// --ca-key against two recorders that change their certificates as the
// appliances do: the member once it has generated the cluster CA, the
// joiner once its certificate from that CA is installed. kwctl trusts only
// their first certificates (--ca), so each run also checks that it trusts
// the cluster CA from step 1 on.
func TestClusterFullJoinClusterCAProtocol(t *testing.T) {
	bootKey, clusterKey, joinerKey := ecKey(t), ecKey(t), ecKey(t)
	boot := newTestCA(t, bootKey, sec1)
	clusterCA := newTestCA(t, clusterKey, sec1)
	memberBoot, memberNext := issue(t, boot, bootKey, ecKey(t), "127.0.0.1"), issue(t, clusterCA, clusterKey, ecKey(t), "127.0.0.1")
	joinerBoot, joinerNext := issue(t, boot, bootKey, joinerKey, "127.0.0.1"), issue(t, clusterCA, clusterKey, joinerKey, "10.0.0.6", "127.0.0.1")
	joinerCSR := csrFor(t, joinerKey)
	kit := `{"members":[{"id":"a1","name":"n1","urls":["https://10.0.0.5:2380"]},{"id":"b2","urls":["https://10.0.0.6:2380"],"learner":true}],"joinerKit":"sealed"}`
	notFound := canned{404, jsonType, `{"message":"no cluster CA has been set"}`}
	has := canned{200, pemType, clusterCA.certPEM}
	signed := canned{200, pemType, chainPEM(joinerNext)}
	certify := []string{"POST /api/v1/config/tls/csr.pem", "PUT /api/v1/config/tls/cert.pem", "PUT /api/v1/config/tls/cluster-ca.pem"}
	tests := []struct {
		name              string
		memberCA, gen     canned
		sign              canned
		wantCode          int
		wantStdout        string
		wantStderr        []string
		wantMember        []string
		wantJoiner        []string
		memberRecertifies bool
	}{
		{name: "the member generates the CA", memberCA: notFound, gen: canned{201, pemType, clusterCA.certPEM}, sign: signed,
			wantStdout: "joined: member b2 ready\n",
			wantStderr: []string{"[1/5] member: no cluster CA yet; having it generate one", `[1/5] member: generated cluster CA "operator CA" (SHA-256 `,
				"[2/5] joiner: having the member's cluster CA certify it for https://10.0.0.6:2380", "[3/5] member: registering the joiner",
				"[5/5] waiting", "the joiner is Locked", "issued by the cluster CA: save it (kwctl --url https://127.0.0.1:"},
			wantMember: []string{"GET /api/v1/config/tls/cluster-ca.pem", "POST /api/v1/cluster/ca/generate", "POST /api/v1/cluster/ca/sign",
				"POST /api/v1/cluster/members", "GET /api/v1/cluster/status"},
			wantJoiner:        append(append([]string{}, certify...), "POST /api/v1/cluster/join"),
			memberRecertifies: true},
		{name: "the member has the CA", memberCA: has, sign: signed, wantStdout: "joined: member b2 ready\n",
			wantStderr: []string{`[1/5] member: using its cluster CA "operator CA" (SHA-256 `, "[2/5] joiner: having the member's cluster CA certify it"},
			wantMember: []string{"GET /api/v1/config/tls/cluster-ca.pem", "POST /api/v1/cluster/ca/sign", "POST /api/v1/cluster/members", "GET /api/v1/cluster/status"},
			wantJoiner: append(append([]string{}, certify...), "POST /api/v1/cluster/join")},
		{name: "the member's CA was set from outside", memberCA: has, wantCode: exitError,
			sign: canned{412, jsonType, `{"message":"the cluster CA was set from outside and its key is not in the cluster"}`},
			wantStderr: []string{"step 2/5 (certify the joiner) failed: certify the joiner: the member's cluster CA was set from outside, so its key is not in the cluster: " +
				"pass --ca-cert and --ca-key with that CA (the member said: 412 Precondition Failed: the cluster CA was set from outside", "; nothing changed\n",
				"now: the member is ready for the joiner; the joiner keeps its own keys and users"},
			wantMember: []string{"GET /api/v1/config/tls/cluster-ca.pem", "POST /api/v1/cluster/ca/sign"},
			wantJoiner: []string{"POST /api/v1/config/tls/csr.pem"}},
		{name: "the member cannot generate a CA", memberCA: notFound, wantCode: exitError,
			gen: canned{412, jsonType, `{"message":"the cluster has 2 members"}`},
			wantStderr: []string{"step 1/5 (get or generate the member's cluster CA) failed: generate the cluster CA on the member: 412 Precondition Failed: the cluster has 2 members",
				"now: the joiner is unchanged"},
			wantMember: []string{"GET /api/v1/config/tls/cluster-ca.pem", "POST /api/v1/cluster/ca/generate"}},
		{name: "the member's CA is no CA", memberCA: canned{200, pemType, chainPEM(memberNext)}, wantCode: exitError,
			wantStderr: []string{"step 1/5 (get or generate the member's cluster CA) failed: the member's cluster CA: want exactly one certificate"},
			wantMember: []string{"GET /api/v1/config/tls/cluster-ca.pem"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			trigger := ""
			if tc.memberRecertifies {
				trigger = "POST /api/v1/cluster/ca/generate"
			}
			member := newRecertifyingRecorder(t, map[string]canned{
				"GET /api/v1/config/tls/cluster-ca.pem": tc.memberCA,
				"POST /api/v1/cluster/ca/generate":      tc.gen,
				"POST /api/v1/cluster/ca/sign":          tc.sign,
				"POST /api/v1/cluster/members":          {201, jsonType, kit},
				"GET /api/v1/cluster/status":            {200, jsonType, `{"self":"a1","members":[{"id":"b2","state":"ready"}]}`},
			}, memberBoot, memberNext, trigger)
			joiner := newRecertifyingRecorder(t, map[string]canned{
				"POST /api/v1/config/tls/csr.pem":       {200, pemType, joinerCSR},
				"PUT /api/v1/config/tls/cert.pem":       {status: 204},
				"PUT /api/v1/config/tls/cluster-ca.pem": {status: 204},
				"POST /api/v1/cluster/join":             {status: 204},
			}, joinerBoot, joinerNext, "PUT /api/v1/config/tls/cert.pem")
			env := withEnv(map[string]string{"KEYWARDEN_JOINER_PASSPHRASE": "joiner pass", "KEYWARDEN_BACKUP_PASSPHRASE": "backup pass"})
			res := runKwctl(t, env, "", "--ca", boot.certFile, "cluster", "fulljoin", "--member", member.url(), "--joiner", joiner.url(),
				"--joiner-peer", "https://10.0.0.6:2380", "--joiner-user", "jadmin", "--wait", "10s")
			checkResult(t, res, tc.wantCode, tc.wantStdout, "")
			for _, want := range tc.wantStderr {
				if !strings.Contains(res.stderr, want) {
					t.Errorf("stderr: got %q, want it to contain %q", res.stderr, want)
				}
			}
			checkClusterCARequests(t, "member", member.requests(), tc.wantMember, login{"admin", "admin passphrase"}, joinerCSR, clusterCA.certPEM)
			checkClusterCARequests(t, "joiner", joiner.requests(), tc.wantJoiner, login{"jadmin", "joiner pass"}, joinerCSR, clusterCA.certPEM)
		})
	}
}

// checkClusterCARequests checks the request lines one node received, the
// credentials, the sign request for the joiner's key and what is installed
// on the joiner: the chain the member signed, then the cluster CA.
func checkClusterCARequests(t *testing.T, who string, got []recorded, want []string, l login, csr, caPEM string) {
	t.Helper()
	wantSign := `{"csr":` + jsonString(t, csr) + `,"ipAddresses":["10.0.0.6","127.0.0.1"]}`
	lines := make([]string, len(got))
	for i, r := range got {
		lines[i] = r.method + " " + r.uri
		if r.user != l.user || r.pass != l.pass {
			t.Errorf("%s: %s authenticated as %q/%q, want %q/%q", who, lines[i], r.user, r.pass, l.user, l.pass)
		}
		switch {
		case lines[i] == "POST /api/v1/cluster/ca/sign" && r.body != wantSign:
			t.Errorf("%s: sign request:\n got %s\nwant %s", who, r.body, wantSign)
		case lines[i] == "PUT /api/v1/config/tls/cert.pem" && !strings.HasSuffix(r.body, caPEM):
			t.Errorf("%s: certificate installed: got %q, want the chain the member signed", who, r.body)
		case lines[i] == "PUT /api/v1/config/tls/cluster-ca.pem" && r.body != caPEM:
			t.Errorf("%s: cluster CA installed: got %q, want the member's", who, r.body)
		}
	}
	lines = slices.CompactFunc(lines, func(a, b string) bool { return a == b && a == "GET /api/v1/cluster/status" })
	if !slices.Equal(lines, want) {
		t.Errorf("%s requests:\n got %q\nwant %q", who, lines, want)
	}
}

func jsonString(t *testing.T, s string) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestClusterCACommands(t *testing.T) {
	csr := csrFor(t, ecKey(t))
	const chain = "-----BEGIN CERTIFICATE-----\nleaf\n-----BEGIN CERTIFICATE-----\nca\n"
	runCmdCases(t, []cmdCase{
		{name: "sign-csr", env: adminEnv, stdin: csr, args: []string{"cluster", "sign-csr", "--csr", "-", "--ip", "10.0.0.6,fd00::6", "--dns", "node6.example"},
			answers: map[string]canned{"POST /api/v1/cluster/ca/sign": {200, pemType, chain}},
			wantReqs: []recorded{{method: "POST", uri: "/api/v1/cluster/ca/sign", contentType: jsonType, user: "admin", pass: "admin passphrase",
				body: `{"csr":` + jsonString(t, csr) + `,"ipAddresses":["10.0.0.6","fd00::6"],"dnsNames":["node6.example"]}`}},
			wantStdout: chain},
		{name: "sign-csr without names", env: adminEnv, args: []string{"--json", "cluster", "sign-csr", "--csr", writeTemp(t, "csr.pem", csr), "--ip", "10.0.0.6"},
			answers: map[string]canned{"POST /api/v1/cluster/ca/sign": {200, pemType, chain}},
			wantReqs: []recorded{{method: "POST", uri: "/api/v1/cluster/ca/sign", contentType: jsonType,
				body: `{"csr":` + jsonString(t, csr) + `,"ipAddresses":["10.0.0.6"]}`}},
			wantStdout: "{\n  \"pem\": " + jsonString(t, chain) + "\n}\n"},
	})

	t.Run("generate-ca", func(t *testing.T) {
		rec := newAPIRecorder(t, map[string]canned{"POST /api/v1/cluster/ca/generate": {201, pemType, "-----BEGIN CERTIFICATE-----\nca\n"}})
		out := filepath.Join(t.TempDir(), "ca.pem")
		res := runKwctl(t, adminEnv, "", "--url", rec.url(), "--ca", rec.caFile, "cluster", "generate-ca", "--out", out)
		checkResult(t, res, exitOK, "", "kwctl: the appliance now presents a certificate issued by this CA: pass the CA with --ca from now on")
		if b, err := os.ReadFile(out); err != nil || string(b) != "-----BEGIN CERTIFICATE-----\nca\n" {
			t.Errorf("--out file: got %q (%v), want the CA", b, err)
		}
		if got := rec.requests(); len(got) != 1 || got[0].method+" "+got[0].uri != "POST /api/v1/cluster/ca/generate" || got[0].user != "admin" {
			t.Errorf("requests: got %+v, want one POST /api/v1/cluster/ca/generate as admin", got)
		}
	})
	t.Run("generate-ca refused", func(t *testing.T) {
		rec := newAPIRecorder(t, map[string]canned{"POST /api/v1/cluster/ca/generate": {409, jsonType, `{"message":"a cluster CA is already set"}`}})
		res := runKwctl(t, adminEnv, "", "--url", rec.url(), "--ca", rec.caFile, "cluster", "generate-ca")
		checkResult(t, res, exitError, "", "kwctl: generate cluster ca: 409 Conflict: a cluster CA is already set\n")
		if strings.Contains(res.stderr, "now presents") {
			t.Errorf("stderr: got %q, want no word of a new certificate", res.stderr)
		}
	})
}

func TestClusterCAUsage(t *testing.T) {
	fulljoin := []string{"--insecure", "--user", "admin", "cluster", "fulljoin", "--member", "https://10.0.0.5/api/v1", "--joiner", "https://10.0.0.6/api/v1"}
	sign := []string{"--insecure", "--user", "admin", "cluster", "sign-csr"}
	tests := []struct {
		name string
		args []string
		want string // substring of stderr
	}{
		{"fulljoin --member-peer needs --ca-cert", append(slices.Clone(fulljoin), "--joiner-peer", "https://10.0.0.6:2380", "--member-peer", "https://10.0.0.5:2380"),
			"--member-peer goes with --ca-cert and --ca-key"},
		{"fulljoin cluster CA certifies IPs", append(slices.Clone(fulljoin), "--joiner-peer", "https://node6.example:2380"),
			`--joiner-peer "https://node6.example:2380": the cluster CA certifies peers by IP address`},
		{"sign-csr needs --csr", append(slices.Clone(sign), "--ip", "10.0.0.6"), "cluster sign-csr: --csr is required"},
		{"sign-csr needs --ip", append(slices.Clone(sign), "--csr", "-"), "cluster sign-csr: --ip is required"},
		{"sign-csr takes IPs", append(slices.Clone(sign), "--csr", "-", "--ip", "node6.example"), `--ip "node6.example" is not an IP address`},
		{"generate-ca takes no argument", []string{"cluster", "generate-ca", "x"}, "wrong number of arguments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := runKwctl(t, map[string]string{"KEYWARDEN_PASSPHRASE": "p", "KEYWARDEN_BACKUP_PASSPHRASE": "b"}, "", tc.args...)
			checkResult(t, res, exitUsage, "", tc.want)
		})
	}
}
