package keys_test

import (
	"crypto/x509"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/appliance/keys"
)

// parseCSR decodes and checks the signature of a PEM CSR.
func parseCSR(t *testing.T, out []byte) *x509.CertificateRequest {
	t.Helper()
	block, rest := pem.Decode(out)
	if block == nil || block.Type != "CERTIFICATE REQUEST" || len(rest) != 0 {
		t.Fatalf("CSR = %q, want one CERTIFICATE REQUEST block", out)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := csr.CheckSignature(); err != nil {
		t.Fatalf("CSR signature: %v", err)
	}
	return csr
}

func TestCSRKeyTypes(t *testing.T) {
	tests := []struct {
		key  *keys.Key
		want x509.SignatureAlgorithm
	}{
		{sharedRSA(t, 1024), x509.SHA256WithRSA},
		{mustGenerate(t, keys.TypeECP256, 0, ecdsaMechs), x509.ECDSAWithSHA256},
		{mustGenerate(t, keys.TypeECP384, 0, ecdsaMechs), x509.ECDSAWithSHA384},
		{mustGenerate(t, keys.TypeECP521, 0, ecdsaMechs), x509.ECDSAWithSHA512},
		{mustGenerate(t, keys.TypeCurve25519, 0, eddsaMechs), x509.PureEd25519},
		// A CSR needs no signing mechanism.
		{mustGenerate(t, keys.TypeRSA, 1024, []keys.Mechanism{keys.MechRSADecryptionRAW}), x509.SHA256WithRSA},
	}
	for _, tt := range tests {
		t.Run(string(tt.key.Type()), func(t *testing.T) {
			out, err := tt.key.CSR(keys.DistinguishedName{CommonName: "hsm.example"})
			if err != nil {
				t.Fatal(err)
			}
			csr := parseCSR(t, out)
			if csr.SignatureAlgorithm != tt.want {
				t.Errorf("signature algorithm %v, want %v", csr.SignatureAlgorithm, tt.want)
			}
			if !samePublic(csr.PublicKey, tt.key.Public()) {
				t.Errorf("CSR public key differs from the key's")
			}
		})
	}
}

func TestCSRSubjectAndSANs(t *testing.T) {
	full := `{"countryName":"DE","stateOrProvinceName":"","localityName":"Berlin",
		"organizationName":"Example","organizationalUnitName":"Ops","commonName":"hsm.example",
		"emailAddress":"ops@example.com"`
	tests := []struct {
		name      string
		body      string
		wantSub   string
		wantDNS   []string
		wantIPs   []string
		wantNoExt bool
	}{
		{"full, SANs absent", full + `}`,
			// String re-encodes the email as UTF8String (0c); emailTag checks the real type.
			"CN=hsm.example,OU=Ops,O=Example,L=Berlin,C=DE,1.2.840.113549.1.9.1=#0c0f6f7073406578616d706c652e636f6d",
			[]string{"hsm.example"}, nil, false},
		{"SANs null", `{"commonName":"a.example","subjectAltNames":null}`, "CN=a.example", []string{"a.example"}, nil, false},
		{"SANs empty", `{"commonName":"a.example","subjectAltNames":[]}`, "CN=a.example", nil, nil, true},
		{"DNS and IP SANs", `{"commonName":"a.example","subjectAltNames":["b.example","IP:192.0.2.1","IP:2001:db8::1"]}`,
			"CN=a.example", []string{"b.example"}, []string{"192.0.2.1", "2001:db8::1"}, false},
	}
	k := mustGenerate(t, keys.TypeECP256, 0, ecdsaMechs)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dn keys.DistinguishedName
			if err := json.Unmarshal([]byte(tt.body), &dn); err != nil {
				t.Fatal(err)
			}
			out, err := k.CSR(dn)
			if err != nil {
				t.Fatal(err)
			}
			csr := parseCSR(t, out)
			if got := csr.Subject.String(); got != tt.wantSub {
				t.Errorf("subject %q, want %q", got, tt.wantSub)
			}
			if dn.EmailAddress != "" {
				if got := emailTag(t, csr); got != asn1.TagIA5String {
					t.Errorf("emailAddress has ASN.1 tag %d, want IA5String (%d)", got, asn1.TagIA5String)
				}
			}
			if got := fmt.Sprint(csr.DNSNames); got != fmt.Sprint(tt.wantDNS) {
				t.Errorf("DNS SANs %s, want %s", got, fmt.Sprint(tt.wantDNS))
			}
			if got := fmt.Sprint(csr.IPAddresses); got != fmt.Sprint(tt.wantIPs) {
				t.Errorf("IP SANs %s, want %s", got, fmt.Sprint(tt.wantIPs))
			}
			if hasExt := len(csr.Extensions) > 0; hasExt == tt.wantNoExt {
				t.Errorf("has extensions = %v, want %v", hasExt, !tt.wantNoExt)
			}
		})
	}
}

// rawATV and rawRDNSET decode a subject keeping each value's string type
// (encoding/asn1 treats slice types named ...SET as SET OF).
type rawATV struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}
type rawRDNSET []rawATV

// emailTag returns the ASN.1 tag of the subject's emailAddress, or -1.
func emailTag(t *testing.T, csr *x509.CertificateRequest) int {
	t.Helper()
	var rdns []rawRDNSET
	if _, err := asn1.Unmarshal(csr.RawSubject, &rdns); err != nil {
		t.Fatal(err)
	}
	for _, rdn := range rdns {
		for _, atv := range rdn {
			if atv.Type.Equal(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}) {
				return atv.Value.Tag
			}
		}
	}
	return -1
}

func TestCSRErrors(t *testing.T) {
	k := mustGenerate(t, keys.TypeECP256, 0, ecdsaMechs)
	tests := []struct {
		name string
		key  *keys.Key
		dn   keys.DistinguishedName
		text string
	}{
		{"generic key", mustGenerate(t, keys.TypeGeneric, 128, aesMechs), keys.DistinguishedName{CommonName: "x"}, "Generic keys have no public key"},
		{"zero key", &keys.Key{}, keys.DistinguishedName{CommonName: "x"}, "empty keys have no public key"},
		{"no common name", k, keys.DistinguishedName{OrganizationName: "x"}, "commonName is required"},
		{"bad IP", k, keys.DistinguishedName{CommonName: "x", SubjectAltNames: []string{"IP:300.1.1.1"}}, `"300.1.1.1" is not an IP address`},
		{"empty SAN", k, keys.DistinguishedName{CommonName: "x", SubjectAltNames: []string{""}}, "not a DNS name"},
		{"non-ASCII SAN", k, keys.DistinguishedName{CommonName: "x", SubjectAltNames: []string{"bücher.example"}}, "not a DNS name"},
		{"non-ASCII CN as default SAN", k, keys.DistinguishedName{CommonName: "bücher.example"}, "not a DNS name"},
		{"non-ASCII email", k, keys.DistinguishedName{CommonName: "x", EmailAddress: "ü@example.com"}, "emailAddress must be ASCII"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := tt.key.CSR(tt.dn)
			checkErr(t, err, keys.ErrInvalid)
			if out != nil {
				t.Errorf("got CSR with the error, want nil")
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not mention %q", err, tt.text)
			}
		})
	}
}
