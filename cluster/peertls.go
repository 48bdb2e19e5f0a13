package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"golang.org/x/sys/unix"
)

// PeerTLS is the identity a member shows its peers and the CA it trusts for
// theirs. Peers authenticate each other both ways: each presents its
// certificate as a server and, when it dials, as a client.
type PeerTLS struct {
	// Cert is the member's certificate in PEM, optionally followed by
	// intermediate CA certificates. It must be signed by CA, be valid for
	// both server and client authentication, and name the PeerListen IP
	// address (peers dial that address and verify it).
	Cert []byte
	// Key is the PEM private key of Cert. It is never written to disk.
	Key []byte
	// CA holds the PEM certificates of the cluster CA: a peer is accepted
	// exactly when its certificate chains to one of them.
	CA []byte
}

// peerIdentity is a validated PeerTLS.
type peerIdentity struct {
	pair tls.Certificate
	leaf *x509.Certificate
	pool *x509.CertPool
}

// parsePeerTLS checks p: the certificate and key parse and match, the
// certificate chains to the CA for both uses peers make of it and, when host
// is not empty, names host.
func parsePeerTLS(p PeerTLS, host string) (*peerIdentity, error) {
	pair, err := tls.X509KeyPair(p.Cert, p.Key)
	if err != nil {
		return nil, fmt.Errorf("peer TLS certificate and key: %w", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("peer TLS certificate: %w", err)
	}
	pool, err := parseCAs(p.CA)
	if err != nil {
		return nil, err
	}
	id := &peerIdentity{pair: pair, leaf: leaf, pool: pool}
	if err := id.verify(pair.Certificate[1:], host); err != nil {
		return nil, err
	}
	return id, nil
}

// parseCAs returns a pool of every certificate in the PEM data.
func parseCAs(data []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		if block.Type != "CERTIFICATE" {
			continue
		}
		ca, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("peer TLS CA: %w", err)
		}
		pool.AddCert(ca)
		n++
	}
	if n == 0 {
		return nil, errors.New("peer TLS CA: no PEM certificate found")
	}
	return pool, nil
}

// verify checks the leaf the way peers will: chained to the CA (through the
// given intermediates), usable as a server and as a client certificate, and
// naming host.
func (id *peerIdentity) verify(intermediates [][]byte, host string) error {
	inter := x509.NewCertPool()
	for _, der := range intermediates {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("peer TLS intermediate certificate: %w", err)
		}
		inter.AddCert(c)
	}
	uses := []struct {
		usage x509.ExtKeyUsage
		what  string
	}{
		{x509.ExtKeyUsageAny, "is not signed by the peer CA"},
		{x509.ExtKeyUsageServerAuth, "is not valid for server authentication"},
		{x509.ExtKeyUsageClientAuth, "is not valid for client authentication, which peers require"},
	}
	for _, u := range uses {
		opts := x509.VerifyOptions{Roots: id.pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{u.usage}}
		if _, err := id.leaf.Verify(opts); err != nil {
			return fmt.Errorf("peer TLS certificate %q %s: %w", id.leaf.Subject, u.what, err)
		}
	}
	if host != "" {
		if err := id.leaf.VerifyHostname(host); err != nil {
			return fmt.Errorf("peer TLS certificate does not name the peer address %s that peers verify: %w", host, err)
		}
	}
	return nil
}

// clientConfig is the TLS configuration this member dials peers with.
func (id *peerIdentity) clientConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{id.pair},
		RootCAs:      id.pool,
		MinVersion:   tls.VersionTLS12,
	}
}

// peerFiles holds the PEM data etcd reads by path, in anonymous memory files
// so that the private key never reaches a disk. etcd reads the certificate
// and key again at every handshake, so the files stay open while etcd runs.
type peerFiles struct {
	cert, key, ca *os.File
}

// writePeerFiles puts p into memory files.
func writePeerFiles(p PeerTLS) (*peerFiles, error) {
	var f peerFiles
	var err error
	if f.cert, err = memFile("peer-cert", p.Cert); err != nil {
		return nil, err
	}
	if f.key, err = memFile("peer-key", p.Key); err != nil {
		f.close()
		return nil, err
	}
	if f.ca, err = memFile("peer-ca", p.CA); err != nil {
		f.close()
		return nil, err
	}
	return &f, nil
}

// memFile returns an anonymous in-memory file holding data; it is not
// inherited by child processes.
func memFile(name string, data []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("create memory file for %s: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return nil, fmt.Errorf("write memory file for %s: %w", name, err)
	}
	return f, nil
}

// procPath returns a path through which f can be opened again, by this process
// only.
func procPath(f *os.File) string { return fmt.Sprintf("/proc/self/fd/%d", f.Fd()) }

// tlsInfo tells etcd to serve peers over TLS with client certificates
// required, and to dial them with the same certificate.
func (f *peerFiles) tlsInfo() transport.TLSInfo {
	return transport.TLSInfo{
		CertFile:       procPath(f.cert),
		KeyFile:        procPath(f.key),
		TrustedCAFile:  procPath(f.ca),
		ClientCertAuth: true,
		// A peer is whoever holds a certificate from the cluster CA. Matching
		// its SANs against the connection's source address would also refuse
		// members behind NAT or dialling from a second interface, and costs a
		// reverse DNS lookup per connection for certificates with DNS names.
		SkipClientSANVerify: true,
	}
}

func (f *peerFiles) close() {
	for _, file := range []*os.File{f.cert, f.key, f.ca} {
		if file != nil {
			file.Close()
		}
	}
}

// hostOf returns the host part of a host:port, or "" when it has none.
func hostOf(hostPort string) string {
	host, _, err := net.SplitHostPort(hostPort)
	if err != nil {
		return ""
	}
	return host
}
