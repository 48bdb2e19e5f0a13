package tlsconf_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/keywarden/keywarden/appliance/tlsconf"
)

// keyTypes are the types Generate supports, with a check of the public key.
var keyTypes = []struct {
	kt    tlsconf.KeyType
	check func(pub any) bool
}{
	{tlsconf.RSA, func(p any) bool { k, ok := p.(*rsa.PublicKey); return ok && k.N.BitLen() == tlsconf.DefaultRSABits }},
	{tlsconf.EC_P256, curveIs(elliptic.P256())},
	{tlsconf.EC_P384, curveIs(elliptic.P384())},
	{tlsconf.EC_P521, curveIs(elliptic.P521())},
	{tlsconf.Curve25519, func(p any) bool { _, ok := p.(ed25519.PublicKey); return ok }},
}

func curveIs(c elliptic.Curve) func(any) bool {
	return func(p any) bool { k, ok := p.(*ecdsa.PublicKey); return ok && k.Curve == c }
}

func TestGenerate(t *testing.T) {
	for _, tt := range keyTypes {
		t.Run(string(tt.kt), func(t *testing.T) {
			id := generate(t, tt.kt, "hsm.example", "192.0.2.7")
			leaf := leafOf(t, id)
			if !tt.check(leaf.PublicKey) {
				t.Errorf("public key: got %T, want a %s key", leaf.PublicKey, tt.kt)
			}
			if err := leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature); err != nil {
				t.Errorf("self-signature: %v", err)
			}
			for _, host := range []string{"hsm.example", "192.0.2.7", "localhost", "127.0.0.1", "::1"} {
				if err := leaf.VerifyHostname(host); err != nil {
					t.Errorf("VerifyHostname(%s): %v", host, err)
				}
			}
			if got, want := leaf.NotAfter.Sub(leaf.NotBefore), tlsconf.SelfSignedValidity+time.Hour; got != want {
				t.Errorf("validity: got %v, want %v", got, want)
			}
			if got := leaf.Subject.CommonName; got != "hsm.example" {
				t.Errorf("common name: got %q, want %q", got, "hsm.example")
			}
		})
	}
}

func TestGenerateRefuses(t *testing.T) {
	tests := []struct {
		name  string
		kt    tlsconf.KeyType
		bits  int
		hosts []string
		want  error
	}{
		{"BrainpoolP256", tlsconf.BrainpoolP256, 0, nil, tlsconf.ErrUnsupported},
		{"BrainpoolP384", tlsconf.BrainpoolP384, 0, nil, tlsconf.ErrUnsupported},
		{"BrainpoolP512", tlsconf.BrainpoolP512, 0, nil, tlsconf.ErrUnsupported},
		{"unknown type", "DSA", 0, nil, tlsconf.ErrUnsupported},
		{"RSA too short", tlsconf.RSA, 1024, nil, tlsconf.ErrInvalid},
		{"RSA too long", tlsconf.RSA, 16384, nil, tlsconf.ErrInvalid},
		{"empty host", tlsconf.EC_P256, 0, []string{""}, tlsconf.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := tlsconf.Generate(tt.kt, tt.bits, tt.hosts)
			if !errors.Is(err, tt.want) || id != nil {
				t.Errorf("Generate: got %v, %v; want nil, %v", id, err, tt.want)
			}
		})
	}
}

func TestPublicPEM(t *testing.T) {
	id := generate(t, tlsconf.EC_P256)
	block, _ := pem.Decode(id.PublicPEM())
	if block == nil || block.Type != "PUBLIC KEY" {
		t.Fatalf("PublicPEM: got %q, want a PUBLIC KEY block", id.PublicPEM())
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if leaf := leafOf(t, id); !leaf.PublicKey.(*ecdsa.PublicKey).Equal(pub) {
		t.Errorf("PublicPEM: got a key different from the certificate's")
	}
}

func TestSetCertificate(t *testing.T) {
	ca := newCA(t)
	id := generate(t, tlsconf.EC_P256)
	csr, err := id.CSR(tlsconf.DistinguishedName{CommonName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	chain := ca.sign(t, csr)
	if err := id.SetCertificate(chain); err != nil {
		t.Fatalf("SetCertificate(CA-signed chain): %v", err)
	}
	if got := id.CertPEM(); !bytes.Equal(got, chain) {
		t.Errorf("CertPEM: got\n%s\nwant\n%s", got, chain)
	}
	otherKey := generate(t, tlsconf.EC_P256)
	otherCSR, _ := otherKey.CSR(tlsconf.DistinguishedName{CommonName: "localhost"})
	privPEM, _ := otherKey.MarshalBinary()
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"certificate of another key", ca.sign(t, otherCSR), tlsconf.ErrKeyMismatch},
		{"self-signed of another key", otherKey.CertPEM(), tlsconf.ErrKeyMismatch},
		{"empty", nil, tlsconf.ErrMalformed},
		{"garbage", []byte("not pem"), tlsconf.ErrMalformed},
		{"trailing garbage", append(bytes.Clone(chain), "junk"...), tlsconf.ErrMalformed},
		{"private key", privPEM, tlsconf.ErrMalformed},
		{"bad DER", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2, 3}}), tlsconf.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := id.SetCertificate(tt.in); !errors.Is(err, tt.want) {
				t.Errorf("SetCertificate: got %v, want %v", err, tt.want)
			}
			if got := id.CertPEM(); !bytes.Equal(got, chain) {
				t.Errorf("CertPEM after refused SetCertificate: got\n%s\nwant it unchanged", got)
			}
		})
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	for _, tt := range keyTypes {
		t.Run(string(tt.kt), func(t *testing.T) {
			id := generate(t, tt.kt, "hsm.example")
			data, err := id.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			var back tlsconf.Identity
			if err := back.UnmarshalBinary(data); err != nil {
				t.Fatalf("UnmarshalBinary: %v", err)
			}
			if !bytes.Equal(back.CertPEM(), id.CertPEM()) || !bytes.Equal(back.PublicPEM(), id.PublicPEM()) {
				t.Errorf("round trip: got a different certificate or public key")
			}
			again, _ := back.MarshalBinary()
			if !bytes.Equal(again, data) {
				t.Errorf("MarshalBinary after round trip: got different bytes")
			}
		})
	}
}

func TestUnmarshalRefuses(t *testing.T) {
	a, b := generate(t, tlsconf.EC_P256), generate(t, tlsconf.EC_P256)
	aData, _ := a.MarshalBinary()
	keyOnly, _ := pem.Decode(aData)
	tests := map[string]struct {
		in   []byte
		want error
	}{
		"empty":        {nil, tlsconf.ErrMalformed},
		"cert first":   {a.CertPEM(), tlsconf.ErrMalformed},
		"key only":     {pem.EncodeToMemory(keyOnly), tlsconf.ErrMalformed},
		"key mismatch": {append(pem.EncodeToMemory(keyOnly), b.CertPEM()...), tlsconf.ErrKeyMismatch},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var id tlsconf.Identity
			if err := id.UnmarshalBinary(tt.in); !errors.Is(err, tt.want) {
				t.Errorf("UnmarshalBinary: got %v, want %v", err, tt.want)
			}
			if id.CertPEM() != nil || id.PublicPEM() != nil {
				t.Errorf("identity after refused UnmarshalBinary: got content, want it empty")
			}
		})
	}
}

// ipIn reports whether ips contains want.
func ipIn(ips []net.IP, want string) bool {
	return slices.ContainsFunc(ips, func(ip net.IP) bool { return ip.Equal(net.ParseIP(want)) })
}
