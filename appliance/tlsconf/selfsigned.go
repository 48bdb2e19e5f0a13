package tlsconf

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"time"
)

// SelfSignedValidity is how long a generated certificate is valid. The
// self-signed certificate is a placeholder until the operator installs one
// from their CA (CSR, SetCertificate); it conveys no trust by itself, so a
// short lifetime would buy nothing but an appliance whose API suddenly
// becomes unreachable for clients that pinned it.
const SelfSignedValidity = 10 * 365 * 24 * time.Hour

// clockSkew backdates NotBefore so clients whose clock is slightly behind
// the appliance's (common right after first boot) accept the certificate.
const clockSkew = time.Hour

// loopback names are always in the self-signed certificate so local tools
// and health checks can verify it.
var loopback = []string{"localhost", "127.0.0.1", "::1"}

// selfSign returns a DER certificate for key, signed by key, naming hosts
// (DNS names or IP addresses) and the loopback names.
func selfSign(key crypto.Signer, hosts []string) ([]byte, error) {
	dns, ips, err := splitHosts(append(append([]string{}, hosts...), loopback...))
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("tlsconf: certificate serial: %w", err)
	}
	cn := "keywarden"
	if len(hosts) > 0 {
		cn = hosts[0]
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(SelfSignedValidity),
		KeyUsage:              keyUsage(key),
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              dns,
		IPAddresses:           ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: create self-signed certificate: %w", err)
	}
	return der, nil
}

// keyUsage allows key encipherment for RSA keys only, for TLS 1.2 clients
// that still use RSA key exchange.
func keyUsage(key crypto.Signer) x509.KeyUsage {
	if _, ok := key.Public().(*rsa.PublicKey); ok {
		return x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	}
	return x509.KeyUsageDigitalSignature
}

// splitHosts sorts hosts into DNS names and IP addresses, dropping duplicates.
func splitHosts(hosts []string) ([]string, []net.IP, error) {
	var dns []string
	var ips []net.IP
	seen := map[string]bool{}
	for _, h := range hosts {
		if h == "" {
			return nil, nil, fmt.Errorf("%w: empty host name", ErrInvalid)
		}
		if seen[h] {
			continue
		}
		seen[h] = true
		if ip := net.ParseIP(h); ip != nil {
			ips = append(ips, ip)
		} else {
			dns = append(dns, h)
		}
	}
	return dns, ips, nil
}
