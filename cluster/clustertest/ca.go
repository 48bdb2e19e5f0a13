package clustertest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/keywarden/keywarden/cluster"
)

// certLifetime covers any test run; certificates start a minute in the past
// so that clock granularity never makes a fresh one "not yet valid".
const certLifetime = time.Hour

// CA is a throwaway cluster CA that issues peer certificates.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

// NewCA creates a CA with a fresh P-256 key.
func NewCA(t testing.TB) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := template(t, "keywarden test cluster CA")
	tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("create CA certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse CA certificate: %v", err)
	}
	return &CA{cert: cert, key: key, pem: pemBlock("CERTIFICATE", der)}
}

// PEM returns the CA certificate in PEM.
func (ca *CA) PEM() []byte { return ca.pem }

// PeerTLS issues a peer certificate naming ip, valid for server and client
// authentication, and returns it with its key and this CA.
func (ca *CA) PeerTLS(t testing.TB, ip string) *cluster.PeerTLS {
	t.Helper()
	return ca.Issue(t, ip, x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth)
}

// Issue is PeerTLS with the given extended key usages, for certificates a
// peer must refuse.
func (ca *CA) Issue(t testing.TB, ip string, usages ...x509.ExtKeyUsage) *cluster.PeerTLS {
	t.Helper()
	key := newKey(t)
	tmpl := template(t, "keywarden test peer "+ip)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = usages
	if addr := net.ParseIP(ip); addr != nil {
		tmpl.IPAddresses = []net.IP{addr}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatalf("issue peer certificate: %v", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("encode peer key: %v", err)
	}
	return &cluster.PeerTLS{
		Cert: pemBlock("CERTIFICATE", der),
		Key:  pemBlock("PRIVATE KEY", keyDER),
		CA:   ca.pem,
	}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	return key
}

func template(t testing.TB, cn string) *x509.Certificate {
	t.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatalf("serial number: %v", err)
	}
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(certLifetime),
	}
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
