package tlsconf_test

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"errors"
	"slices"
	"testing"

	"github.com/keywarden/keywarden/appliance/tlsconf"
)

var oidSAN = asn1.ObjectIdentifier{2, 5, 29, 17}

func parseCSR(t *testing.T, csrPEM []byte) *x509.CertificateRequest {
	t.Helper()
	block, _ := pem.Decode(csrPEM)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		t.Fatalf("CSR: got %q, want a CERTIFICATE REQUEST block", csrPEM)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		t.Fatalf("parse csr: %v", err)
	}
	return csr
}

func TestCSRSubjectAndSignature(t *testing.T) {
	var dn tlsconf.DistinguishedName
	example := `{"countryName":"DE","stateOrProvinceName":"","localityName":"Berlin",
		"organizationName":"Example","organizationalUnitName":"Ops","commonName":"hsm.example",
		"emailAddress":"ops@example.com","subjectAltNames":["a.example","IP:192.0.2.1","IP:2001:db8::1"]}`
	if err := json.Unmarshal([]byte(example), &dn); err != nil {
		t.Fatal(err)
	}
	for _, tt := range keyTypes {
		t.Run(string(tt.kt), func(t *testing.T) {
			id := generate(t, tt.kt)
			csrPEM, err := id.CSR(dn)
			if err != nil {
				t.Fatalf("CSR: %v", err)
			}
			csr := parseCSR(t, csrPEM)
			if err := csr.CheckSignature(); err != nil {
				t.Errorf("CSR signature: %v", err)
			}
			if !publicEqual(csr.PublicKey, leafOf(t, id).PublicKey) {
				t.Errorf("CSR public key: got one that is not the identity's")
			}
			s := csr.Subject
			got := []string{first(s.Country), first(s.Province), first(s.Locality), first(s.Organization),
				first(s.OrganizationalUnit), s.CommonName, email(csr)}
			want := []string{"DE", "", "Berlin", "Example", "Ops", "hsm.example", "ops@example.com"}
			if !slices.Equal(got, want) {
				t.Errorf("subject: got %q, want %q", got, want)
			}
			if !slices.Equal(csr.DNSNames, []string{"a.example"}) || len(csr.IPAddresses) != 2 ||
				!ipIn(csr.IPAddresses, "192.0.2.1") || !ipIn(csr.IPAddresses, "2001:db8::1") {
				t.Errorf("SANs: got DNS %q IP %v, want [a.example] [192.0.2.1 2001:db8::1]", csr.DNSNames, csr.IPAddresses)
			}
		})
	}
}

func TestCSRSubjectAltNames(t *testing.T) {
	id := generate(t, tlsconf.EC_P256)
	tests := []struct {
		name    string
		json    string
		wantDNS []string
		wantIP  string
		wantExt bool
	}{
		{"omitted: common name", `{"commonName":"hsm.example"}`, []string{"hsm.example"}, "", true},
		{"omitted, IP common name", `{"commonName":"192.0.2.9"}`, nil, "192.0.2.9", true},
		{"empty list: no extension", `{"commonName":"hsm.example","subjectAltNames":[]}`, nil, "", false},
		{"null: common name", `{"commonName":"hsm.example","subjectAltNames":null}`, []string{"hsm.example"}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dn tlsconf.DistinguishedName
			if err := json.Unmarshal([]byte(tt.json), &dn); err != nil {
				t.Fatal(err)
			}
			csrPEM, err := id.CSR(dn)
			if err != nil {
				t.Fatalf("CSR: %v", err)
			}
			csr := parseCSR(t, csrPEM)
			hasExt := slices.ContainsFunc(csr.Extensions, func(e pkix.Extension) bool { return e.Id.Equal(oidSAN) })
			if hasExt != tt.wantExt || !slices.Equal(csr.DNSNames, tt.wantDNS) ||
				(tt.wantIP != "") != (len(csr.IPAddresses) == 1) || (tt.wantIP != "" && !ipIn(csr.IPAddresses, tt.wantIP)) {
				t.Errorf("got SAN extension %v DNS %q IP %v; want %v %q %q", hasExt, csr.DNSNames, csr.IPAddresses, tt.wantExt, tt.wantDNS, tt.wantIP)
			}
		})
	}
}

func TestCSRRefuses(t *testing.T) {
	id := generate(t, tlsconf.EC_P256)
	tests := map[string]tlsconf.DistinguishedName{
		"no common name": {OrganizationName: "Example"},
		"bad IP SAN":     {CommonName: "x", SubjectAltNames: []string{"IP:not-an-ip"}},
		"empty SAN":      {CommonName: "x", SubjectAltNames: []string{""}},
	}
	for name, dn := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := id.CSR(dn); !errors.Is(err, tlsconf.ErrInvalid) {
				t.Errorf("CSR: got %v, want %v", err, tlsconf.ErrInvalid)
			}
		})
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// email returns the PKCS #9 emailAddress attribute of the CSR subject.
func email(csr *x509.CertificateRequest) string {
	for _, n := range csr.Subject.Names {
		if n.Type.Equal(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}) {
			s, _ := n.Value.(string)
			return s
		}
	}
	return ""
}

func publicEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}
