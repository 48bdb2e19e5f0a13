package main

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"
)

// localPair returns a signFunc and the public key of a fresh key of m's
// type, parsed from PEM the way kwbench reads an appliance key.
func localPair(t *testing.T, m *mechanism) (signFunc, any) {
	t.Helper()
	sign, pub, err := m.local()
	if err != nil {
		t.Fatalf("local %s key: %v", m.name, err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatalf("marshal public key: %v", err)
	}
	parsed, err := parsePublicPEM(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	if err != nil {
		t.Fatalf("parsePublicPEM: %v", err)
	}
	return sign, parsed
}

func TestMechanismVerify(t *testing.T) {
	for _, m := range mechanisms {
		t.Run(m.name, func(t *testing.T) {
			sign, pub := localPair(t, m)
			_, otherPub := localPair(t, m)
			input := m.input(bytes.Repeat([]byte{7}, 32))
			sig, err := sign(input)
			if err != nil {
				t.Fatalf("sign: %v", err)
			}
			if err := m.verify(pub, input, sig); err != nil {
				t.Errorf("verify of a good signature: got %v, want nil", err)
			}
			bad := bytes.Clone(sig)
			bad[len(bad)/2] ^= 1
			if err := m.verify(pub, input, bad); !errors.Is(err, errBadSignature) {
				t.Errorf("verify of a corrupted signature: got %v, want errBadSignature", err)
			}
			if err := m.verify(otherPub, input, sig); !errors.Is(err, errBadSignature) {
				t.Errorf("verify with another key: got %v, want errBadSignature", err)
			}
			other := mechanisms[(indexOf(m)+1)%len(mechanisms)]
			_, wrongType := localPair(t, other)
			if err := m.verify(wrongType, input, sig); err == nil || errors.Is(err, errBadSignature) {
				t.Errorf("verify with a %s key: got %v, want a key type error", other.name, err)
			}
		})
	}
}

func indexOf(m *mechanism) int {
	for i, x := range mechanisms {
		if x == m {
			return i
		}
	}
	return -1
}

func TestMechanismInput(t *testing.T) {
	random := bytes.Repeat([]byte{0xa5}, 32)
	sum := sha256.Sum256(random)
	tests := []struct {
		mech string
		want []byte
	}{
		{"p256", sum[:]},
		{"ed25519", random},
		{"rsa2048", append(bytes.Clone(sha256DigestInfo), sum[:]...)},
	}
	for _, tt := range tests {
		t.Run(tt.mech, func(t *testing.T) {
			if got := mechanismNamed(tt.mech).input(random); !bytes.Equal(got, tt.want) {
				t.Errorf("input = %x, want %x", got, tt.want)
			}
		})
	}
}

// TestDigestInfo checks the PKCS1 input against crypto/rsa's own DigestInfo:
// PKCS #1 v1.5 signatures are deterministic, so signing DigestInfo||hash raw
// must give exactly the signature of the hash with crypto.SHA256.
func TestDigestInfo(t *testing.T) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	random := []byte("thirty-two bytes of benchmark in")
	sum := sha256.Sum256(random)
	want, err := rsa.SignPKCS1v15(nil, k, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatalf("sign hash: %v", err)
	}
	got, err := rsa.SignPKCS1v15(nil, k, 0, mechanismNamed("rsa2048").input(random))
	if err != nil {
		t.Fatalf("sign DigestInfo: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("signature over DigestInfo||hash differs from the SHA-256 signature")
	}
}

func TestParsePublicPEM(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"not PEM", "hello"},
		{"PEM of garbage", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if pub, err := parsePublicPEM([]byte(tt.in)); err == nil {
				t.Errorf("parsePublicPEM(%q) = %T, nil; want an error", tt.in, pub)
			}
		})
	}
}
