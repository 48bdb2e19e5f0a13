package tlsconf

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"strings"
)

// DistinguishedName is the subject of a certificate signing request, in the
// JSON shape of the REST API.
//
// SubjectAltNames distinguishes nil from empty: nil (the field absent from
// JSON) means "the common name"; an empty, non-nil slice means no SAN
// extension at all. Entries are DNS names unless prefixed with "IP:".
type DistinguishedName struct {
	CountryName            string   `json:"countryName,omitempty"`
	StateOrProvinceName    string   `json:"stateOrProvinceName,omitempty"`
	LocalityName           string   `json:"localityName,omitempty"`
	OrganizationName       string   `json:"organizationName,omitempty"`
	OrganizationalUnitName string   `json:"organizationalUnitName,omitempty"`
	CommonName             string   `json:"commonName"`
	EmailAddress           string   `json:"emailAddress,omitempty"`
	SubjectAltNames        []string `json:"subjectAltNames"`
}

// oidEmailAddress is PKCS #9 emailAddress, which pkix.Name has no field for.
var oidEmailAddress = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}

// CSR returns a PEM CERTIFICATE REQUEST for dn, signed by the identity's key.
// When SubjectAltNames is nil the common name becomes the only SAN: an IP SAN
// if it is an IP address (a DNS SAN holding an address would match nothing),
// a DNS SAN otherwise. It returns an error wrapping ErrInvalid for a missing
// common name or a bad "IP:" entry.
func (id *Identity) CSR(dn DistinguishedName) ([]byte, error) {
	key := id.signer()
	if key == nil {
		return nil, errors.New("tlsconf: csr: identity has no key")
	}
	if dn.CommonName == "" {
		return nil, fmt.Errorf("%w: csr: commonName is required", ErrInvalid)
	}
	tmpl, err := csrTemplate(dn)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: create csr: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

func csrTemplate(dn DistinguishedName) (*x509.CertificateRequest, error) {
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{
		Country:            optional(dn.CountryName),
		Province:           optional(dn.StateOrProvinceName),
		Locality:           optional(dn.LocalityName),
		Organization:       optional(dn.OrganizationName),
		OrganizationalUnit: optional(dn.OrganizationalUnitName),
		CommonName:         dn.CommonName,
	}}
	if dn.EmailAddress != "" {
		tmpl.Subject.ExtraNames = []pkix.AttributeTypeAndValue{{
			Type:  oidEmailAddress,
			Value: asn1.RawValue{Tag: asn1.TagIA5String, Bytes: []byte(dn.EmailAddress)},
		}}
	}
	if dn.SubjectAltNames == nil {
		if ip := net.ParseIP(dn.CommonName); ip != nil {
			tmpl.IPAddresses = []net.IP{ip}
		} else {
			tmpl.DNSNames = []string{dn.CommonName}
		}
		return tmpl, nil
	}
	for _, san := range dn.SubjectAltNames {
		if err := addSAN(tmpl, san); err != nil {
			return nil, err
		}
	}
	return tmpl, nil
}

// addSAN adds one API-style SAN entry ("name" or "IP:address") to tmpl.
func addSAN(tmpl *x509.CertificateRequest, san string) error {
	if rest, ok := strings.CutPrefix(san, "IP:"); ok {
		ip := net.ParseIP(rest)
		if ip == nil {
			return fmt.Errorf("%w: csr: subjectAltName %q is not an IP address", ErrInvalid, san)
		}
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		return nil
	}
	if san == "" {
		return fmt.Errorf("%w: csr: empty subjectAltName", ErrInvalid)
	}
	tmpl.DNSNames = append(tmpl.DNSNames, san)
	return nil
}

// optional turns an empty API field into an absent attribute.
func optional(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}
