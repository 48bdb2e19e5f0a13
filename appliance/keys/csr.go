package keys

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"net"
	"strings"
)

// DistinguishedName is the DistinguishedName schema: the subject of a CSR and
// its subject alternative names.
type DistinguishedName struct {
	CountryName            string `json:"countryName,omitempty"`
	StateOrProvinceName    string `json:"stateOrProvinceName,omitempty"`
	LocalityName           string `json:"localityName,omitempty"`
	OrganizationName       string `json:"organizationName,omitempty"`
	OrganizationalUnitName string `json:"organizationalUnitName,omitempty"`
	CommonName             string `json:"commonName"`
	EmailAddress           string `json:"emailAddress,omitempty"`
	// SubjectAltNames nil (absent) means one DNS name equal to CommonName;
	// empty means no SAN extension. Entries are DNS names unless they start
	// with "IP:". No omitempty: it would turn [] into "absent".
	SubjectAltNames []string `json:"subjectAltNames"`
}

// oidEmailAddress is PKCS#9 emailAddress, which the API puts in the subject.
var oidEmailAddress = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}

// CSR returns a PEM "CERTIFICATE REQUEST" for the key's public key with the
// subject and SANs of dn, signed by the key (SHA-256 for RSA and P-256,
// SHA-384 for P-384, SHA-512 for P-521, Ed25519 for Curve25519). It does not
// need a signing mechanism. Errors wrap ErrInvalid: a bad dn, or a Generic
// key, which has no public key.
func (k *Key) CSR(dn DistinguishedName) ([]byte, error) {
	if k.signer == nil {
		return nil, invalidf("csr: %s keys have no public key", k.typeName())
	}
	return SignCSR(k.signer, dn)
}

// SignCSR returns a PEM "CERTIFICATE REQUEST" for signer's public key with the
// subject and SANs of dn, signed by signer. It serves the key API and the
// appliance's own TLS key alike. Errors wrap ErrInvalid for a bad dn.
func SignCSR(signer crypto.Signer, dn DistinguishedName) ([]byte, error) {
	tmpl, err := dn.template()
	if err != nil {
		return nil, fmt.Errorf("csr: %w", err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, signer)
	if err != nil {
		return nil, fmt.Errorf("csr: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// template checks dn and turns it into a request template.
func (dn DistinguishedName) template() (*x509.CertificateRequest, error) {
	if dn.CommonName == "" {
		return nil, invalidf("commonName is required")
	}
	subject := pkix.Name{
		Country:            nonEmpty(dn.CountryName),
		Province:           nonEmpty(dn.StateOrProvinceName),
		Locality:           nonEmpty(dn.LocalityName),
		Organization:       nonEmpty(dn.OrganizationName),
		OrganizationalUnit: nonEmpty(dn.OrganizationalUnitName),
		CommonName:         dn.CommonName,
	}
	if dn.EmailAddress != "" {
		if !isASCII(dn.EmailAddress) {
			return nil, invalidf("emailAddress must be ASCII")
		}
		// An IA5String, as RFC 5280 requires and OpenSSL writes.
		subject.ExtraNames = append(subject.ExtraNames, pkix.AttributeTypeAndValue{
			Type:  oidEmailAddress,
			Value: asn1.RawValue{Tag: asn1.TagIA5String, Bytes: []byte(dn.EmailAddress)},
		})
	}
	tmpl := &x509.CertificateRequest{Subject: subject}
	sans := dn.SubjectAltNames
	if sans == nil {
		// The common name is the only SAN: an IP SAN when it is an address,
		// since a DNS SAN holding an address matches nothing.
		sans = []string{dn.CommonName}
		if net.ParseIP(dn.CommonName) != nil {
			sans = []string{"IP:" + dn.CommonName}
		}
	}
	for _, san := range sans {
		if err := addSAN(tmpl, san); err != nil {
			return nil, err
		}
	}
	return tmpl, nil
}

// addSAN adds one subjectAltNames entry to tmpl.
func addSAN(tmpl *x509.CertificateRequest, san string) error {
	if ipText, ok := strings.CutPrefix(san, "IP:"); ok {
		ip := net.ParseIP(ipText)
		if ip == nil {
			return invalidf("subjectAltNames: %q is not an IP address", ipText)
		}
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		return nil
	}
	if san == "" || !isASCII(san) {
		return invalidf("subjectAltNames: %q is not a DNS name (empty or not ASCII)", san)
	}
	tmpl.DNSNames = append(tmpl.DNSNames, san)
	return nil
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
