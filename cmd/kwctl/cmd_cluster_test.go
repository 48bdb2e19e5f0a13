package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/appliance/client"
)

const pemType = "application/x-pem-file"

// testCA is an operator CA written to files as cluster fulljoin reads them.
type testCA struct {
	cert              *x509.Certificate
	certPEM           string
	certFile, keyFile string
}

// newTestCA makes a CA valid around fixedNow (the clock of in-process
// kwctl runs) and the real clock, with its key encoded by encodeKey.
func newTestCA(t *testing.T, key crypto.Signer, encodeKey func(crypto.Signer) *pem.Block) testCA {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "operator CA"},
		NotBefore: fixedNow.Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	return testCA{cert: cert, certPEM: certPEM, certFile: writeTemp(t, "ca.pem", certPEM),
		keyFile: writeTemp(t, "ca.key", string(pem.EncodeToMemory(encodeKey(key))))}
}

func ecKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func rsaKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sec1(k crypto.Signer) *pem.Block {
	der, _ := x509.MarshalECPrivateKey(k.(*ecdsa.PrivateKey))
	return &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}
}

func pkcs1(k crypto.Signer) *pem.Block {
	return &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k.(*rsa.PrivateKey))}
}

func pkcs8(k crypto.Signer) *pem.Block {
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	return &pem.Block{Type: "PRIVATE KEY", Bytes: der}
}

// csrFor is a certificate request like the appliance's for a new key.
func csrFor(t *testing.T, key crypto.Signer) string {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "10.0.0.7"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

// checkPeerCert parses the leaf of chain and checks that it is what
// cluster peers need: signed by ca, good for server and client
// authentication, naming every IP in ips.
func checkPeerCert(t *testing.T, chain []byte, ca testCA, ips ...string) *x509.Certificate {
	t.Helper()
	block, rest := pem.Decode(chain)
	if block == nil {
		t.Fatalf("no PEM certificate in %q", chain)
	}
	if string(rest) != ca.certPEM {
		t.Errorf("chain after the leaf: got %q, want the CA certificate", rest)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	for _, eku := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: fixedNow, KeyUsages: []x509.ExtKeyUsage{eku}}); err != nil {
			t.Errorf("verify for %v: %v", eku, err)
		}
	}
	for _, ip := range ips {
		if !slices.ContainsFunc(cert.IPAddresses, net.ParseIP(ip).Equal) {
			t.Errorf("IP SANs: got %v, want %s among them", cert.IPAddresses, ip)
		}
	}
	if got, want := cert.NotAfter.Sub(cert.NotBefore), peerCertValidity+peerCertBackdate; got != want && !cert.NotAfter.Equal(ca.cert.NotAfter) {
		t.Errorf("validity: got %v, want %v or up to the CA's end", got, want)
	}
	return cert
}

func TestSignPeer(t *testing.T) {
	tests := []struct {
		name   string
		caKey  crypto.Signer
		encode func(crypto.Signer) *pem.Block
		leaf   crypto.Signer
	}{
		{"EC CA in SEC 1, EC leaf", ecKey(t), sec1, ecKey(t)},
		{"RSA CA in PKCS 1, RSA leaf", rsaKey(t), pkcs1, rsaKey(t)},
		{"EC CA in PKCS 8, RSA leaf", ecKey(t), pkcs8, rsaKey(t)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ca := newTestCA(t, tc.caKey, tc.encode)
			op, err := loadOperatorCA(ca.certFile, ca.keyFile, fixedNow)
			if err != nil {
				t.Fatalf("load CA: %v", err)
			}
			chain, err := op.signPeer([]byte(csrFor(t, tc.leaf)), []string{"10.0.0.7", "10.0.0.7", "192.0.2.1", "hsm.example"}, fixedNow)
			if err != nil {
				t.Fatalf("sign: %v", err)
			}
			cert := checkPeerCert(t, chain, ca, "10.0.0.7", "192.0.2.1")
			if len(cert.IPAddresses) != 2 || !slices.Equal(cert.DNSNames, []string{"hsm.example"}) {
				t.Errorf("SANs: got IPs %v and names %v, want each host once", cert.IPAddresses, cert.DNSNames)
			}
			_, isRSA := tc.leaf.(*rsa.PrivateKey)
			if got := cert.KeyUsage&x509.KeyUsageKeyEncipherment != 0; got != isRSA {
				t.Errorf("keyEncipherment: got %v, want %v (only for RSA keys)", got, isRSA)
			}
		})
	}
}

func TestSignPeerRefusesBadRequests(t *testing.T) {
	ca := newTestCA(t, ecKey(t), sec1)
	op, err := loadOperatorCA(ca.certFile, ca.keyFile, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	tampered := csrFor(t, ecKey(t))
	block, _ := pem.Decode([]byte(tampered))
	block.Bytes[len(block.Bytes)-3] ^= 0xff // inside the signature
	for name, csr := range map[string]string{
		"not PEM":       "hello",
		"a certificate": ca.certPEM,
		"bad signature": string(pem.EncodeToMemory(block)),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := op.signPeer([]byte(csr), []string{"10.0.0.7"}, fixedNow); err == nil {
				t.Error("signPeer: got nil error, want a refusal")
			}
		})
	}
}

func TestLoadOperatorCA(t *testing.T) {
	key := ecKey(t)
	ca := newTestCA(t, key, sec1)
	other := newTestCA(t, ecKey(t), sec1)
	exposed := writeTemp(t, "exposed.key", string(pem.EncodeToMemory(sec1(key))))
	if err := os.Chmod(exposed, 0o640); err != nil {
		t.Fatal(err)
	}
	der, _ := asn1.Marshal(asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}) // what openssl ecparam writes for P-256
	withParams := writeTemp(t, "params.key", string(pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: der}))+string(pem.EncodeToMemory(sec1(key))))
	encrypted := writeTemp(t, "enc.key", string(pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}})))
	tests := []struct {
		name, cert, key string
		now             time.Time
		want            string // substring of the error; "" for success
	}{
		{"sec1", ca.certFile, ca.keyFile, fixedNow, ""},
		{"openssl EC parameters first", ca.certFile, withParams, fixedNow, ""},
		{"key readable by group", ca.certFile, exposed, fixedNow, errCAKeyExposed.Error()},
		{"key of another CA", ca.certFile, other.keyFile, fixedNow, "is not the key of --ca-cert"},
		{"encrypted key", ca.certFile, encrypted, fixedNow, "the key is encrypted"},
		{"key file is a certificate", ca.certFile, ca.certFile, fixedNow, `PEM block "CERTIFICATE"`},
		{"cert file is a key", ca.keyFile, ca.keyFile, fixedNow, "want one PEM CERTIFICATE"},
		{"CA expired", ca.certFile, ca.keyFile, time.Now().Add(48 * time.Hour), "not valid now"},
		{"missing key", ca.certFile, filepath.Join(t.TempDir(), "absent"), fixedNow, "no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadOperatorCA(tc.cert, tc.key, tc.now)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := loadOperatorCA(ca.certFile, exposed, fixedNow); !errors.Is(err, errCAKeyExposed) {
		t.Errorf("exposed key: got %v, want errCAKeyExposed", err)
	}
	notCA := writeTemp(t, "leaf.pem", string(leafCert(t, key)))
	if _, err := loadOperatorCA(notCA, ca.keyFile, fixedNow); err == nil || !strings.Contains(err.Error(), "not a CA") {
		t.Errorf("leaf as CA: got %v, want \"not a CA\"", err)
	}
}

// leafCert is a self-signed certificate for key that is not a CA.
func leafCert(t *testing.T, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), NotBefore: fixedNow.Add(-time.Hour), NotAfter: fixedNow.Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestClusterUsage(t *testing.T) {
	ca := newTestCA(t, ecKey(t), sec1)
	withGlobals := func(global []string, extra ...string) []string {
		return append(append(global, "cluster", "fulljoin", "--member", "https://10.0.0.5/api/v1", "--joiner", "https://10.0.0.6/api/v1",
			"--joiner-peer", "https://10.0.0.6:2380", "--ca-cert", ca.certFile, "--ca-key", ca.keyFile), extra...)
	}
	full := func(extra ...string) []string {
		return withGlobals([]string{"--insecure", "--user", "admin"}, extra...)
	}
	env := map[string]string{"KEYWARDEN_PASSPHRASE": "p", "KEYWARDEN_BACKUP_PASSPHRASE": "b"}
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantCode int
		want     string // substring of stderr
	}{
		{"add needs --url", []string{"cluster", "add"}, nil, exitUsage, "cluster add: --url is required"},
		{"update needs --url", []string{"cluster", "update", "m1"}, nil, exitUsage, "cluster update: --url is required"},
		{"update needs an ID", []string{"cluster", "update", "--url", "https://10.0.0.6:2380"}, nil, exitUsage, "wrong number of arguments"},
		{"promote needs an ID", []string{"cluster", "promote"}, nil, exitUsage, "wrong number of arguments"},
		{"remove takes one ID", []string{"cluster", "remove", "a", "b"}, nil, exitUsage, "wrong number of arguments"},
		{"set-ca needs a file", []string{"cluster", "set-ca"}, nil, exitUsage, "wrong number of arguments"},
		{"join needs --kit-file", []string{"cluster", "join"}, nil, exitUsage, "cluster join: --kit-file is required"},
		{"join needs a kit", []string{"--insecure", "cluster", "join", "--kit-file", writeTemp(t, "kit", `{"members":[]}`)}, env, exitUsage, "members or joinerKit missing"},
		{"join needs JSON", []string{"--insecure", "cluster", "join", "--kit-file", writeTemp(t, "kit", `joinerKit`)}, env, exitUsage, "not the JSON that cluster add prints"},
		{"join needs the backup passphrase", []string{"--insecure", "--user", "admin", "cluster", "join", "--kit-file", writeTemp(t, "kit", `{"members":[{"id":"1"}],"joinerKit":"k"}`)},
			map[string]string{"KEYWARDEN_PASSPHRASE": "p"}, exitUsage, "no backup passphrase: use --backup-passphrase-file FILE or set KEYWARDEN_BACKUP_PASSPHRASE"},
		{"force-new needs --yes", []string{"--insecure", "cluster", "force-new"}, nil, exitUsage, "add --yes to confirm"},
		{"force-new needs the unlock passphrase", []string{"--insecure", "cluster", "force-new", "--yes"}, nil, exitUsage, "no unlock passphrase"},
		{"fulljoin needs --member", []string{"cluster", "fulljoin"}, nil, exitUsage, "cluster fulljoin: --member is required"},
		{"fulljoin needs --ca-key with --ca-cert", full("--ca-key", ""), env, exitUsage, "--ca-cert and --ca-key go together"},
		{"fulljoin needs --ca-cert with --ca-key", full("--ca-cert", ""), env, exitUsage, "--ca-cert and --ca-key go together"},
		{"fulljoin peer needs https", full("--joiner-peer", "http://10.0.0.6:2380"), env, exitUsage, "--joiner-peer \"http://10.0.0.6:2380\": want https://IP:PORT"},
		{"fulljoin peer needs a port", full("--member-peer", "https://10.0.0.5"), env, exitUsage, "--member-peer \"https://10.0.0.5\": want https://IP:PORT"},
		{"fulljoin peer takes no path", full("--joiner-peer", "https://10.0.0.6:2380/"), env, exitUsage, "want https://IP:PORT"},
		{"fulljoin two appliances", full("--joiner", "https://10.0.0.5/api/v1"), env, exitUsage, "--member and --joiner name the same appliance"},
		{"fulljoin two peers", full("--member-peer", "https://10.0.0.6:2380"), env, exitUsage, "name the same address"},
		{"fulljoin wait", full("--wait", "0s"), env, exitUsage, "--wait must be positive"},
		{"fulljoin needs a user", withGlobals([]string{"--insecure"}), env, exitUsage, "no user: use --user ID"},
		{"fulljoin needs the backup passphrase", full(), map[string]string{"KEYWARDEN_PASSPHRASE": "p"}, exitUsage, "no backup passphrase"},
		{"fulljoin refuses an exposed CA key", full("--ca-key", exposedCopy(t, ca.keyFile)), env, exitError, "readable by group or others (mode 0644)"},
		{"fulljoin needs a TLS choice", withGlobals([]string{"--user", "admin"}), env, exitUsage, "refusing to connect to 10.0.0.5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := runKwctl(t, tc.env, "", tc.args...)
			if res.code != tc.wantCode || !strings.Contains(res.stderr, tc.want) {
				t.Errorf("got code %d, stderr %q; want %d and %q", res.code, res.stderr, tc.wantCode, tc.want)
			}
			if res.stdout != "" {
				t.Errorf("stdout: got %q, want nothing", res.stdout)
			}
		})
	}
}

// exposedCopy copies file to one that everyone may read.
func exposedCopy(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	p := writeTemp(t, "exposed", string(b))
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestClusterCommands(t *testing.T) {
	kit := `{"members":[{"id":"a1","name":"n1","urls":["https://10.0.0.5:2380"],"learner":false},` +
		`{"id":"b2","name":"","urls":["https://10.0.0.6:2380"],"learner":true}],"joinerKit":"sealed"}`
	kitFile := writeTemp(t, "kit.json", kit)
	caFile := writeTemp(t, "cluster-ca.pem", "-----BEGIN CERTIFICATE-----\n")
	backupEnv := withEnv(map[string]string{"KEYWARDEN_BACKUP_PASSPHRASE": "backup pass"})
	status := `{"self":"a1","leader":"a1","members":[{"id":"a1","name":"n1","urls":["https://10.0.0.5:2380"],"learner":false,"state":"ready",` +
		`"applianceState":"Operational","raftIndexLag":0,"clockOffsetMs":0},{"id":"b2","name":"","urls":["https://10.0.0.6:2380"],"learner":true,` +
		`"state":"joining","stage":"catching up","raftIndexLag":12,"clockOffsetMs":-3,"lastHeartbeatMs":800}]}`
	runCmdCases(t, []cmdCase{
		{name: "members", env: adminEnv, args: []string{"cluster", "members"},
			answers:    map[string]canned{"GET /api/v1/cluster/members": {200, jsonType, `[{"id":"a1","name":"n1","urls":["https://10.0.0.5:2380"]},{"id":"b2","urls":[],"learner":true}]`}},
			wantReqs:   []recorded{{method: "GET", uri: "/api/v1/cluster/members", user: "admin", pass: "admin passphrase"}},
			wantStdout: "ID  NAME  ROLE     PEER URLS\na1  n1    voter    https://10.0.0.5:2380\nb2  -     learner  -\n"},
		{name: "status without login", args: []string{"cluster", "status"},
			answers:  map[string]canned{"GET /api/v1/cluster/status": {200, jsonType, status}},
			wantReqs: []recorded{{method: "GET", uri: "/api/v1/cluster/status", user: "", pass: ""}},
			wantStdout: "self:   a1\nleader: a1\n" +
				"ID  NAME  ROLE     STATE                  APPLIANCE    LAG  CLOCK  HEARTBEAT\n" +
				"a1  n1    voter    ready                  Operational  0    +0ms   -\n" +
				"b2  -     learner  joining (catching up)  -            12   -3ms   800ms ago\n"},
		{name: "add prints the kit", env: adminEnv, args: []string{"cluster", "add", "--url", "https://10.0.0.6:2380"},
			answers:    map[string]canned{"POST /api/v1/cluster/members": {201, jsonType, kit}},
			wantReqs:   []recorded{{method: "POST", uri: "/api/v1/cluster/members", contentType: jsonType, body: `{"urls":["https://10.0.0.6:2380"]}`}},
			wantStdout: indentJSON(t, kit)},
		{name: "join", env: backupEnv, args: []string{"cluster", "join", "--kit-file", kitFile},
			answers: map[string]canned{"POST /api/v1/cluster/join": {status: 204}},
			wantReqs: []recorded{{method: "POST", uri: "/api/v1/cluster/join", contentType: jsonType,
				body: `{"members":` + kit[len(`{"members":`):strings.Index(kit, `,"joinerKit"`)] + `,"joinerKit":"sealed","backupPassphrase":"backup pass"}`}},
			wantStdout: "joined; the appliance is Locked: unlock it with the cluster's unlock passphrase\n"},
		{name: "promote", env: adminEnv, args: []string{"cluster", "promote", "b2"},
			answers:    map[string]canned{"POST /api/v1/cluster/members/b2/promote": {status: 204}},
			wantReqs:   []recorded{{method: "POST", uri: "/api/v1/cluster/members/b2/promote"}},
			wantStdout: "member b2 promoted to a voter\n"},
		{name: "update", env: adminEnv, args: []string{"cluster", "update", "b2", "--url", "https://10.0.0.9:2380"},
			answers:    map[string]canned{"PUT /api/v1/cluster/members/b2": {status: 204}},
			wantReqs:   []recorded{{method: "PUT", uri: "/api/v1/cluster/members/b2", contentType: jsonType, body: `{"urls":["https://10.0.0.9:2380"]}`}},
			wantStdout: "member b2 now at https://10.0.0.9:2380\n"},
		{name: "remove", env: adminEnv, args: []string{"--json", "cluster", "remove", "b2"},
			answers:  map[string]canned{"DELETE /api/v1/cluster/members/b2": {status: 204}},
			wantReqs: []recorded{{method: "DELETE", uri: "/api/v1/cluster/members/b2"}}},
		{name: "force-new authenticates with the unlock passphrase", env: map[string]string{"KEYWARDEN_UNLOCK_PASSPHRASE": "unlock pass"},
			args:       []string{"cluster", "force-new", "--yes"},
			answers:    map[string]canned{"POST /api/v1/cluster/force-new": {status: 204}},
			wantReqs:   []recorded{{method: "POST", uri: "/api/v1/cluster/force-new", user: "admin", pass: "unlock pass"}},
			wantStdout: "the store restarted as a cluster of one with this member's data\n"},
		{name: "ca", env: adminEnv, args: []string{"cluster", "ca"},
			answers:    map[string]canned{"GET /api/v1/config/tls/cluster-ca.pem": {200, pemType, "-----BEGIN CERTIFICATE-----\n"}},
			wantReqs:   []recorded{{method: "GET", uri: "/api/v1/config/tls/cluster-ca.pem"}},
			wantStdout: "-----BEGIN CERTIFICATE-----\n"},
		{name: "set-ca", env: adminEnv, args: []string{"cluster", "set-ca", caFile},
			answers:    map[string]canned{"PUT /api/v1/config/tls/cluster-ca.pem": {status: 204}},
			wantReqs:   []recorded{{method: "PUT", uri: "/api/v1/config/tls/cluster-ca.pem", contentType: pemType, body: "-----BEGIN CERTIFICATE-----\n"}},
			wantStdout: "cluster ca installed\n"},
	})
}

func indentJSON(t *testing.T, s string) string {
	t.Helper()
	var v client.ClusterMemberAdded
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

func TestClusterAddOut(t *testing.T) {
	kit := `{"members":[{"id":"b2","name":"","urls":["https://10.0.0.6:2380"],"learner":true}],"joinerKit":"sealed"}`
	rec := newAPIRecorder(t, map[string]canned{"POST /api/v1/cluster/members": {201, jsonType, kit}})
	out := filepath.Join(t.TempDir(), "kit.json")
	res := runKwctl(t, adminEnv, "", "--url", rec.url(), "--ca", rec.caFile, "cluster", "add", "--url", "https://10.0.0.6:2380", "--out", out)
	checkResult(t, res, exitOK, "registered learner b2 at https://10.0.0.6:2380; join kit written to "+out+"\n", "")
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("kit file mode: got %04o, want 0600", fi.Mode().Perm())
	}
	if b, _ := os.ReadFile(out); string(b) != indentJSON(t, kit) {
		t.Errorf("kit file: got %q, want %q", b, indentJSON(t, kit))
	}
}

// TestClusterFullJoinProtocol runs fulljoin against two recorders and
// checks the requests of each step, the certificates it signs and what a
// failed step says about the nodes.
func TestClusterFullJoinProtocol(t *testing.T) {
	ca := newTestCA(t, ecKey(t), pkcs8)
	other := newTestCA(t, ecKey(t), sec1)
	kit := `{"members":[{"id":"a1","name":"n1","urls":["https://10.0.0.5:2380"]},{"id":"b2","urls":["https://10.0.0.6:2380"],"learner":true}],"joinerKit":"sealed"}`
	ready := `{"self":"a1","members":[{"id":"a1","state":"ready"},{"id":"b2","state":"ready","learner":false}]}`
	notFound := canned{404, jsonType, `{"message":"no cluster CA has been set"}`}
	certify := []string{"POST /api/v1/config/tls/csr.pem", "PUT /api/v1/config/tls/cert.pem", "PUT /api/v1/config/tls/cluster-ca.pem"}
	tests := []struct {
		name            string
		memberCA        canned
		join            canned
		status          string // the member's cluster status; default ready
		extra           []string
		wantCode        int
		wantStdout      string
		wantStderr      []string
		wantMember      []string
		wantJoiner      []string
		memberCertified bool
		joinerCertified bool
	}{
		{name: "success", memberCA: notFound, join: canned{status: 204}, wantStdout: "joined: member b2 ready\n",
			wantStderr: []string{"[1/5] member: no cluster CA yet; certifying it for https://10.0.0.5:2380", "[2/5] joiner: certifying it for https://10.0.0.6:2380",
				"[3/5] member: registering the joiner", "[4/5] joiner: joining as member b2", "[5/5] waiting up to 2m0s for member b2", "the joiner is Locked"},
			wantMember:      append(append([]string{"GET /api/v1/config/tls/cluster-ca.pem"}, certify...), "POST /api/v1/cluster/members", "GET /api/v1/cluster/status"),
			wantJoiner:      append(append([]string{}, certify...), "POST /api/v1/cluster/join"),
			memberCertified: true, joinerCertified: true},
		{name: "join refused", memberCA: canned{200, pemType, ca.certPEM}, join: canned{400, jsonType, `{"message":"the backup passphrase is wrong"}`}, wantCode: exitError,
			wantStderr: []string{"[1/5] member: its cluster CA is --ca-cert already", "step 4/5 (join the cluster) failed: join cluster: 400 Bad Request: the backup passphrase is wrong",
				"now: the joiner is unchanged (Operational, with its own keys and users); the member still lists it as learner b2", "cluster remove b2"},
			wantMember:      []string{"GET /api/v1/config/tls/cluster-ca.pem", "POST /api/v1/cluster/members"},
			wantJoiner:      append(append([]string{}, certify...), "POST /api/v1/cluster/join", "GET /api/v1/health/state"),
			joinerCertified: true},
		{name: "not ready in time", memberCA: notFound, join: canned{status: 204}, extra: []string{"--wait", "1s"}, wantCode: exitError,
			status: `{"self":"a1","members":[{"id":"b2","state":"joining","stage":"catching up","learner":true}]}`,
			wantStderr: []string{"[5/5] waiting up to 1s for member b2", "      member b2: joining (catching up)\n",
				"step 5/5 (wait until the new member is ready) failed: not ready within 1s: joining (catching up)", "now: the joiner joined the cluster as member b2"},
			wantMember: append(append([]string{"GET /api/v1/config/tls/cluster-ca.pem"}, certify...), "POST /api/v1/cluster/members",
				"GET /api/v1/cluster/status"),
			wantJoiner:      append(append([]string{}, certify...), "POST /api/v1/cluster/join"),
			memberCertified: true, joinerCertified: true},
		{name: "member has another CA", memberCA: canned{200, pemType, other.certPEM}, wantCode: exitError,
			wantStderr: []string{"step 1/5 (certify the member) failed: the member's cluster CA is not --ca-cert", "now: the joiner is unchanged"},
			wantMember: []string{"GET /api/v1/config/tls/cluster-ca.pem"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.status == "" {
				tc.status = ready
			}
			member := newAPIRecorder(t, map[string]canned{
				"GET /api/v1/config/tls/cluster-ca.pem": tc.memberCA,
				"POST /api/v1/config/tls/csr.pem":       {200, pemType, csrFor(t, ecKey(t))},
				"PUT /api/v1/config/tls/cert.pem":       {status: 204},
				"PUT /api/v1/config/tls/cluster-ca.pem": {status: 204},
				"POST /api/v1/cluster/members":          {201, jsonType, kit},
				"GET /api/v1/cluster/status":            {200, jsonType, tc.status},
			})
			joiner := newAPIRecorder(t, map[string]canned{
				"POST /api/v1/config/tls/csr.pem":       {200, pemType, csrFor(t, rsaKey(t))},
				"PUT /api/v1/config/tls/cert.pem":       {status: 204},
				"PUT /api/v1/config/tls/cluster-ca.pem": {status: 204},
				"POST /api/v1/cluster/join":             tc.join,
				"GET /api/v1/health/state":              {200, jsonType, `{"state":"Operational"}`},
			})
			env := withEnv(map[string]string{"KEYWARDEN_JOINER_PASSPHRASE": "joiner pass", "KEYWARDEN_BACKUP_PASSPHRASE": "backup pass"})
			args := []string{"--ca", member.caFile, "cluster", "fulljoin", "--member", member.url(), "--joiner", joiner.url(),
				"--member-peer", "https://10.0.0.5:2380", "--joiner-peer", "https://10.0.0.6:2380", "--joiner-user", "jadmin",
				"--ca-cert", ca.certFile, "--ca-key", ca.keyFile}
			res := runKwctl(t, env, "", append(args, tc.extra...)...)
			checkResult(t, res, tc.wantCode, tc.wantStdout, "")
			for _, want := range tc.wantStderr {
				if !strings.Contains(res.stderr, want) {
					t.Errorf("stderr: got %q, want it to contain %q", res.stderr, want)
				}
			}
			if n := strings.Count(res.stderr, "member b2: "); n > 1 {
				t.Errorf("stderr: the same state of member b2 printed %d times, want once per change", n)
			}
			checkFullJoinRequests(t, "member", member.requests(), tc.wantMember, "admin", "admin passphrase", ca, tc.memberCertified, "10.0.0.5")
			checkFullJoinRequests(t, "joiner", joiner.requests(), tc.wantJoiner, "jadmin", "joiner pass", ca, tc.joinerCertified, "10.0.0.6")
		})
	}
}

// checkFullJoinRequests checks the request lines one node received (a run
// of status polls counts as one), the credentials, and the certificate and
// CA installed on it.
func checkFullJoinRequests(t *testing.T, who string, got []recorded, want []string, user, pass string, ca testCA, certified bool, peerIP string) {
	t.Helper()
	lines := make([]string, len(got))
	for i, r := range got {
		lines[i] = r.method + " " + r.uri
		if r.uri != "/api/v1/health/state" && (r.user != user || r.pass != pass) {
			t.Errorf("%s: %s authenticated as %q/%q, want %q/%q", who, lines[i], r.user, r.pass, user, pass)
		}
		switch {
		case lines[i] == "PUT /api/v1/config/tls/cert.pem":
			checkPeerCert(t, []byte(r.body), ca, peerIP, "127.0.0.1")
		case lines[i] == "PUT /api/v1/config/tls/cluster-ca.pem" && r.body != ca.certPEM:
			t.Errorf("%s: cluster CA installed: got %q, want --ca-cert", who, r.body)
		case lines[i] == "POST /api/v1/cluster/join" && !strings.Contains(r.body, `"joinerKit":"sealed","backupPassphrase":"backup pass"`):
			t.Errorf("%s: join request %s lacks the kit or the backup passphrase", who, r.body)
		}
	}
	lines = slices.CompactFunc(lines, func(a, b string) bool { return a == b && a == "GET /api/v1/cluster/status" })
	if !slices.Equal(lines, want) {
		t.Errorf("%s requests:\n got %q\nwant %q", who, lines, want)
	}
	if has := slices.Contains(lines, "PUT /api/v1/config/tls/cert.pem"); has != certified {
		t.Errorf("%s certified: got %v, want %v", who, has, certified)
	}
}
