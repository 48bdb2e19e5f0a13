package main

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"slices"
	"time"
)

// peerCertValidity is how long a peer certificate issued by cluster fulljoin
// stays valid: long enough not to surprise anyone, short enough that a
// forgotten node's certificate does not outlive its hardware.
const peerCertValidity = 365 * 24 * time.Hour

// peerCertBackdate covers clocks of nodes that run a little behind kwctl's.
const peerCertBackdate = 5 * time.Minute

// errCAKeyExposed is returned by loadOperatorCA for a key file that users
// other than its owner may read: kwctl will not be the tool that makes a
// leaked CA key look acceptable.
var errCAKeyExposed = errors.New("the CA key file is readable by group or others")

// operatorCA is the operator's own certificate authority. kwctl signs the
// nodes' certificate requests with it on this machine, so the CA key never
// reaches an appliance.
type operatorCA struct {
	cert    *x509.Certificate
	certPEM []byte // the certificate, to install as the cluster CA
	key     crypto.Signer
}

// loadOperatorCA reads the CA certificate and its key and checks that they
// belong together and may sign certificates at now.
func loadOperatorCA(certFile, keyFile string, now time.Time) (*operatorCA, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("read --ca-cert: %w", err)
	}
	cert, err := parseCACert(certPEM, now)
	if err != nil {
		return nil, fmt.Errorf("--ca-cert %s: %w", certFile, err)
	}
	key, err := readCAKey(keyFile)
	if err != nil {
		return nil, fmt.Errorf("--ca-key %s: %w", keyFile, err)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("--ca-key %s is not the key of --ca-cert %s", keyFile, certFile)
	}
	// Re-encoded, so text around the PEM block never reaches the appliance.
	canonical := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	return &operatorCA{cert: cert, certPEM: canonical, key: key}, nil
}

// parseCACert accepts exactly one PEM certificate that may sign
// certificates now, as the appliance does for its cluster CA.
func parseCACert(data []byte, now time.Time) (*x509.Certificate, error) {
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("want one PEM CERTIFICATE")
	}
	if next, _ := pem.Decode(rest); next != nil {
		return nil, errors.New("want exactly one certificate (the appliance keeps one cluster CA)")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	switch {
	case err != nil:
		return nil, fmt.Errorf("parse certificate: %w", err)
	case !cert.BasicConstraintsValid || !cert.IsCA:
		return nil, errors.New("not a CA certificate (basicConstraints CA:TRUE is missing)")
	case cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0:
		return nil, errors.New("its keyUsage does not allow keyCertSign")
	case now.Before(cert.NotBefore) || now.After(cert.NotAfter):
		return nil, fmt.Errorf("not valid now (valid %s to %s)", cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return cert, nil
}

// readCAKey reads a private key file only its owner can read.
func readCAKey(file string) (crypto.Signer, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w (mode %04o); restrict it with chmod 600", errCAKeyExposed, perm)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	return parseCAKey(data)
}

// parseCAKey decodes the first private key block of data: SEC 1 EC, PKCS #1
// RSA or PKCS #8. The EC PARAMETERS block that openssl writes before an EC
// key is skipped.
func parseCAKey(data []byte) (crypto.Signer, error) {
	for {
		block, rest := pem.Decode(data)
		if block == nil {
			return nil, errors.New("no PEM private key found")
		}
		var key any
		var err error
		switch block.Type {
		case "EC PARAMETERS":
			data = rest
			continue
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("the key is encrypted; decrypt it into a file only you can read (openssl pkey -in KEY -out FILE)")
		default:
			return nil, fmt.Errorf("PEM block %q, want EC PRIVATE KEY, RSA PRIVATE KEY or PRIVATE KEY", block.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", block.Type, err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("a %T cannot sign", key)
		}
		return signer, nil
	}
}

// signPeer certifies the key of a node's certificate request for the given
// hosts (IP addresses or DNS names): for both server and client
// authentication, since cluster peers dial each other with mutual TLS. The
// answer is the certificate followed by the CA certificate, ready for PUT
// /config/tls/cert.pem.
func (ca *operatorCA) signPeer(csrPEM []byte, hosts []string, now time.Time) ([]byte, error) {
	block, _ := pem.Decode(csrPEM)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("the appliance sent no PEM CERTIFICATE REQUEST")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse certificate request: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("certificate request: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      csr.Subject,
		NotBefore:    now.Add(-peerCertBackdate),
		NotAfter:     now.Add(peerCertValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if tmpl.NotAfter.After(ca.cert.NotAfter) {
		tmpl.NotAfter = ca.cert.NotAfter // no certificate outlives its issuer
	}
	if _, ok := csr.PublicKey.(*rsa.PublicKey); ok {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment // TLS 1.2 RSA key exchange
	}
	addHosts(tmpl, hosts)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, csr.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("sign certificate: %w", err)
	}
	return append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), ca.certPEM...), nil
}

// samePEMCert reports whether the first PEM block of pemCert is the
// certificate der.
func samePEMCert(pemCert, der []byte) bool {
	block, _ := pem.Decode(pemCert)
	return block != nil && block.Type == "CERTIFICATE" && bytes.Equal(block.Bytes, der)
}

// addHosts names each host once in tmpl's subject alternative names.
func addHosts(tmpl *x509.Certificate, hosts []string) {
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			if !slices.ContainsFunc(tmpl.IPAddresses, ip.Equal) {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			}
		} else if !slices.Contains(tmpl.DNSNames, h) {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
}
