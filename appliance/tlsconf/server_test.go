package tlsconf_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"sync"
	"testing"

	"github.com/keywarden/keywarden/appliance/tlsconf"
)

var versions = []struct {
	name string
	v    uint16
}{{"TLS1.2", tls.VersionTLS12}, {"TLS1.3", tls.VersionTLS13}}

func TestHandshakeEachKeyType(t *testing.T) {
	for _, kt := range keyTypes {
		id := generate(t, kt.kt)
		addr := serve(t, tlsconf.NewServer(id).TLSConfig())
		leaf := leafOf(t, id)
		for _, v := range versions {
			t.Run(string(kt.kt)+"/"+v.name, func(t *testing.T) {
				cfg := clientFor(leaf)
				cfg.MinVersion, cfg.MaxVersion = v.v, v.v
				st, err := dial(addr, cfg)
				if err != nil {
					t.Fatalf("handshake: %v", err)
				}
				if !st.PeerCertificates[0].Equal(leaf) {
					t.Errorf("server certificate: got %q, want the identity's", st.PeerCertificates[0].Subject)
				}
				if st.NegotiatedProtocol != "h2" {
					t.Errorf("ALPN: got %q, want %q", st.NegotiatedProtocol, "h2")
				}
			})
		}
	}
}

func TestServerConfig(t *testing.T) {
	id := generate(t, tlsconf.EC_P256)
	addr := serve(t, tlsconf.NewServer(id).TLSConfig())
	t.Run("TLS1.1 refused", func(t *testing.T) {
		cfg := clientFor(leafOf(t, id))
		cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
		if _, err := dial(addr, cfg); err == nil {
			t.Errorf("TLS 1.1 handshake: got success, want failure")
		}
	})
	t.Run("http/1.1 client", func(t *testing.T) {
		cfg := clientFor(leafOf(t, id))
		cfg.NextProtos = []string{"http/1.1"}
		st, err := dial(addr, cfg)
		if err != nil || st.NegotiatedProtocol != "http/1.1" {
			t.Errorf("ALPN: got %q, %v; want %q", st.NegotiatedProtocol, err, "http/1.1")
		}
	})
	t.Run("no identity", func(t *testing.T) {
		addr := serve(t, tlsconf.NewServer(nil).TLSConfig())
		if _, err := dial(addr, clientFor(leafOf(t, id))); err == nil {
			t.Errorf("handshake without identity: got success, want failure")
		}
	})
}

// TestSwapResumption checks that tickets resume sessions while the identity
// is unchanged, and that after SetIdentity even a client holding a ticket
// gets a full handshake with the new certificate.
func TestSwapResumption(t *testing.T) {
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			a, b := generate(t, tlsconf.EC_P256), generate(t, tlsconf.Curve25519)
			srv := tlsconf.NewServer(a)
			addr := serve(t, srv.TLSConfig())
			cfg := clientFor(leafOf(t, a), leafOf(t, b))
			cfg.MaxVersion = v.v
			cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)

			steps := []struct {
				name       string
				swapTo     *tlsconf.Identity
				wantLeaf   *x509.Certificate
				wantResume bool
			}{
				{"first", nil, leafOf(t, a), false},
				{"resumed", nil, leafOf(t, a), true},
				{"after swap", b, leafOf(t, b), false},
				{"resumed after swap", nil, leafOf(t, b), true},
			}
			for _, s := range steps {
				if s.swapTo != nil {
					srv.SetIdentity(s.swapTo)
				}
				st, err := dial(addr, cfg)
				if err != nil {
					t.Fatalf("%s: handshake: %v", s.name, err)
				}
				if got := st.PeerCertificates[0]; !got.Equal(s.wantLeaf) || st.DidResume != s.wantResume {
					t.Errorf("%s: got leaf serial %v resumed %v, want serial %v resumed %v",
						s.name, got.SerialNumber, st.DidResume, s.wantLeaf.SerialNumber, s.wantResume)
				}
			}
		})
	}
}

// TestSwapToCASignedChain follows the operator's path: CSR, CA signs,
// SetCertificate, SetIdentity; clients that trust only the CA then connect.
func TestSwapToCASignedChain(t *testing.T) {
	ca := newCA(t)
	id := generate(t, tlsconf.RSA)
	srv := tlsconf.NewServer(id)
	addr := serve(t, srv.TLSConfig())
	if _, err := dial(addr, clientFor(ca.cert)); err == nil {
		t.Fatalf("handshake trusting only the CA before the swap: got success, want failure")
	}
	csr, err := id.CSR(tlsconf.DistinguishedName{CommonName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	if err := id.SetCertificate(ca.sign(t, csr)); err != nil {
		t.Fatal(err)
	}
	srv.SetIdentity(id)
	st, err := dial(addr, clientFor(ca.cert))
	if err != nil {
		t.Fatalf("handshake after swap: %v", err)
	}
	if got := len(st.PeerCertificates); got != 2 || !bytes.Equal(st.PeerCertificates[1].Raw, ca.cert.Raw) {
		t.Errorf("served chain: got %d certificates, want leaf + CA", got)
	}
}

// TestConcurrentSwap handshakes while identities change; run with -race.
func TestConcurrentSwap(t *testing.T) {
	ids := []*tlsconf.Identity{generate(t, tlsconf.EC_P256), generate(t, tlsconf.EC_P384)}
	srv := tlsconf.NewServer(ids[0])
	addr := serve(t, srv.TLSConfig())
	cfg := clientFor(leafOf(t, ids[0]), leafOf(t, ids[1]))
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 50 {
			srv.SetIdentity(ids[i%2])
		}
	})
	for range 4 {
		wg.Go(func() {
			for range 5 {
				if _, err := dial(addr, cfg); err != nil {
					t.Errorf("handshake during swaps: %v", err)
				}
			}
		})
	}
	wg.Wait()
}
