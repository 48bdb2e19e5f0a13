package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/keywarden/keywarden/appliance/apptest"
	"github.com/keywarden/keywarden/appliance/client"
)

// The appliance's TLS identity: what it presents, replacing it by CSR, and
// generating a new key.

func presented(t *testing.T, d *apptest.Daemon) []*x509.Certificate {
	t.Helper()
	conn, err := tls.Dial("tcp", d.Addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates
}

// wantServed fails unless cert.pem and public.pem describe the chain that a
// new handshake presents; it returns the leaf.
func wantServed(t *testing.T, d *apptest.Daemon, admin *client.Client) *x509.Certificate {
	t.Helper()
	chain := presented(t, d)
	certPEM, err := admin.TLSCert(apptest.Context(t))
	if err != nil {
		t.Fatalf("tls/cert.pem: %v", err)
	}
	var got [][]byte
	for b, rest := pem.Decode(certPEM); b != nil; b, rest = pem.Decode(rest) {
		got = append(got, b.Bytes)
	}
	if len(got) != len(chain) {
		t.Fatalf("tls/cert.pem has %d certificates, the handshake presents %d", len(got), len(chain))
	}
	for i := range got {
		if !bytes.Equal(got[i], chain[i].Raw) {
			t.Errorf("tls/cert.pem certificate %d differs from the one presented in the handshake", i)
		}
	}
	pubPEM, err := admin.TLSPublicPEM(apptest.Context(t))
	if err != nil {
		t.Fatalf("tls/public.pem: %v", err)
	}
	b, _ := pem.Decode(pubPEM)
	if b == nil || !bytes.Equal(b.Bytes, chain[0].RawSubjectPublicKeyInfo) {
		t.Errorf("tls/public.pem %q is not the public key presented in the handshake", pubPEM)
	}
	return chain[0]
}

// testCA issues server certificates for 127.0.0.1.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t testing.TB) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "keywarden e2e test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a PEM chain (leaf, then the CA) certifying pub for 127.0.0.1
// for the given uses (server authentication when none are given).
func (ca testCA) issue(t testing.TB, pub any, uses ...x509.ExtKeyUsage) []byte {
	t.Helper()
	if len(uses) == 0 {
		uses = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: uses}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), ca.pem...)
}

// TestTLSIdentity replaces the API's TLS key and certificate and checks what
// the next handshake presents.
func TestTLSIdentity(t *testing.T) {
	d := apptest.Start(t, apptest.Options{})
	provision(t, d)
	ctx := apptest.Context(t)
	admin := d.Client("admin", adminPass)
	wantServed(t, d, admin)

	_, err := admin.TLSCSR(ctx, client.DistinguishedName{})
	wantStatus(t, "tls/csr.pem without a common name", err, 400)
	wantStatus(t, "generate a Brainpool TLS key", admin.GenerateTLSKey(ctx, client.TLSKeyGenerateRequest{Type: "BrainpoolP256"}), 400)
	if err := admin.GenerateTLSKey(ctx, client.TLSKeyGenerateRequest{Type: "EC_P384"}); err != nil {
		t.Fatalf("generate a P-384 TLS key: %v", err)
	}
	var csrPEM []byte
	if k, ok := wantServed(t, d, admin).PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P384() {
		t.Fatalf("after generating EC_P384 the handshake presents a %T key, want P-384", k)
	}

	csrPEM, err = admin.TLSCSR(ctx, client.DistinguishedName{CommonName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("tls/csr.pem: %v", err)
	}
	b, _ := pem.Decode(csrPEM)
	if b == nil {
		t.Fatalf("tls/csr.pem is not PEM: %q", csrPEM)
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil || csr.CheckSignature() != nil {
		t.Fatalf("tls/csr.pem: %v, signature %v", err, csr.CheckSignature())
	}
	ca := newTestCA(t)
	verified, err := client.New(client.Options{URL: d.URL, CACertPEM: ca.pem, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer verified.Close()
	if _, err := verified.State(ctx); err == nil {
		t.Fatal("a client trusting only the test CA accepted the self-signed certificate")
	}

	raw := newRaw(t, d, net.IPv4(127, 0, 2, 1))
	put := func(ctype string, body []byte) rawResp {
		return raw.do(t, rawReq{method: "PUT", path: "/config/tls/cert.pem", user: "admin", pass: adminPass, ctype: ctype, body: string(body)})
	}
	chain := ca.issue(t, csr.PublicKey)
	put("application/octet-stream", chain).want(t, "tls/cert.pem as octet-stream", 415)
	put("application/x-pem-file", chain).want(t, "tls/cert.pem signed by the test CA", 201)
	leaf := wantServed(t, d, admin)
	if !bytes.Equal(leaf.RawIssuer, ca.cert.RawSubject) {
		t.Fatalf("after installing the CA-signed certificate the handshake presents one issued by %s", leaf.Issuer)
	}
	if _, err := verified.State(ctx); err != nil {
		t.Fatalf("a client trusting only the test CA: %v", err)
	}

	other, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	put("application/x-pem-file", ca.issue(t, other.Public())).want(t, "a certificate for another key", 400)
	put("application/x-pem-file", []byte("not a certificate")).want(t, "garbage as a certificate", 400)
	if got := wantServed(t, d, admin); !got.Equal(leaf) {
		t.Fatal("a refused certificate changed the presented one")
	}
	d.Restart()
	if got := presented(t, d); !got[0].Equal(leaf) {
		t.Fatalf("after a restart the handshake presents %s, want the installed certificate", got[0].Subject)
	}
}
