package pkcs11_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"
)

// TestTLSFromTokenKey serves a TLS handshake whose private key never leaves
// the token, as the appliance's HTTPS server will.
func TestTLSFromTokenKey(t *testing.T) {
	tk := newToken(t, "tls")
	r := openT(t, tk.config())
	ctx := context.Background()
	key, err := r.Signer(ctx, "tls")
	if err != nil {
		t.Fatal(err)
	}
	again, err := r.Signer(ctx, "tls")
	if err != nil || !key.Public().(*ecdsa.PublicKey).Equal(again.Public()) {
		t.Fatalf("Signer(tls) twice: got %v, want the same key again", err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "keywarden"},
		DNSNames: []string{"keywarden"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	client, server := net.Pipe()
	done := make(chan error, 1)
	go func() {
		defer server.Close()
		done <- tls.Server(server, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}).Handshake()
	}()
	err = tls.Client(client, &tls.Config{ServerName: "keywarden", RootCAs: roots}).Handshake()
	client.Close()
	if serr := <-done; err != nil || serr != nil {
		t.Fatalf("TLS handshake with the token key: client %v, server %v", err, serr)
	}
	if err := r.DestroyKey(ctx, "tls"); err != nil {
		t.Fatal(err)
	}
	if _, err := key.Sign(nil, make([]byte, 32), nil); err == nil {
		t.Error("sign with the destroyed TLS key: got nil error, want one")
	}
	for _, name := range []string{"", "wrap", "identity"} {
		if _, err := r.Signer(ctx, name); err == nil {
			t.Errorf("Signer(%q): got %v, want a refusal", name, err)
		}
	}
}
