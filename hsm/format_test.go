package hsm

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"errors"
	"strings"
	"testing"
)

func TestCheckWrapped(t *testing.T) {
	kwp := func(n int) []byte { return append([]byte{byte(AESKeyWrapPad)}, make([]byte, n)...) }
	gcm := func(n int) []byte { return append([]byte{byte(AESGCM)}, make([]byte, n)...) }
	tests := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"empty", nil, false},
		{"unknown mechanism", append([]byte{9}, make([]byte, 48)...), false},
		{"kwp shortest", kwp(minKWPWrap), true},
		{"kwp too short", kwp(minKWPWrap - 8), false},
		{"kwp not a multiple of 8", kwp(minKWPWrap + 1), false},
		{"kwp longest", kwp(minKWPWrap + MaxWrapSize), true},
		{"kwp too long", kwp(minKWPWrap + MaxWrapSize + 8), false},
		{"gcm empty secret", gcm(gcmIVSize + gcmTagSize), true},
		{"gcm too short", gcm(gcmIVSize + gcmTagSize - 1), false},
		{"gcm too long", gcm(gcmIVSize + gcmTagSize + MaxWrapSize + 1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckWrapped(tt.in)
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrIntegrity)) {
				t.Errorf("CheckWrapped: got %v, want ok=%v (or ErrIntegrity)", err, tt.ok)
			}
		})
	}
}

func TestKWPPayload(t *testing.T) {
	secret, aad := []byte("device key"), []byte("header")
	p, err := kwpPayload(secret, aad)
	if err != nil {
		t.Fatal(err)
	}
	if q, _ := kwpPayload(secret, aad); bytes.Equal(p, q) {
		t.Error("kwpPayload twice: got identical payloads, want different nonces")
	}
	pad := func(b []byte, n int, v byte) []byte { return append(bytes.Clone(b), bytes.Repeat([]byte{v}, n)...) }
	tests := []struct {
		name    string
		payload []byte
		aad     []byte
		ok      bool
	}{
		{"exact", p, aad, true},
		{"token left zero padding", pad(p, 6, 0), aad, true},
		{"other aad", p, []byte("other"), false},
		{"nonzero padding", pad(p, 6, 1), aad, false},
		{"a whole block of padding", pad(p, 8, 0), aad, false},
		{"truncated secret", p[:len(p)-1], aad, false},
		{"shorter than the header", p[:kwpOverhead-1], aad, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := openKWPPayload(tt.payload, tt.aad)
			if tt.ok && (err != nil || !bytes.Equal(got, secret)) {
				t.Fatalf("openKWPPayload: got %q, %v; want %q", got, err, secret)
			}
			if !tt.ok && !errors.Is(err, ErrIntegrity) {
				t.Fatalf("openKWPPayload: got %q, %v; want ErrIntegrity", got, err)
			}
		})
	}
}

func TestRawToDER(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("message"))
	for i := range 20 { // short r or s values (leading zeros) must survive too
		r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		raw := append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
		der, err := rawToDER(raw)
		if err != nil {
			t.Fatal(err)
		}
		if !ecdsa.VerifyASN1(&key.PublicKey, digest[:], der) {
			t.Fatalf("signature %d: DER form does not verify", i)
		}
	}
	for _, bad := range [][]byte{nil, make([]byte, 63)} {
		if _, err := rawToDER(bad); err == nil {
			t.Errorf("rawToDER(%d bytes): got nil error, want one", len(bad))
		}
	}
}

func TestParseECPoint(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	point, _ := key.PublicKey.Bytes()
	wrapped, _ := asn1.Marshal(point)
	for name, v := range map[string][]byte{"DER octet string": wrapped, "bare point": point} {
		t.Run(name, func(t *testing.T) {
			pub, err := parseECPoint(v)
			if err != nil || !pub.Equal(&key.PublicKey) {
				t.Errorf("parseECPoint: got %v, %v; want the generated key", pub, err)
			}
		})
	}
	if _, err := parseECPoint([]byte{4, 1, 2}); err == nil {
		t.Error("parseECPoint(garbage): got nil error, want one")
	}
	// A bare point whose X starts with 63 looks like a DER OCTET STRING
	// header (04 3f); it must still parse as the point it is.
	for {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		p, _ := k.PublicKey.Bytes()
		if p[1] != 63 {
			continue
		}
		if pub, err := parseECPoint(p); err != nil || !pub.Equal(&k.PublicKey) {
			t.Errorf("parseECPoint(bare point with X[0]=63): got %v, %v; want the key", pub, err)
		}
		break
	}
}

func TestCheckDigest(t *testing.T) {
	d32 := make([]byte, 32)
	tests := []struct {
		name   string
		digest []byte
		opts   crypto.SignerOpts
		ok     bool
	}{
		{"sha256", d32, crypto.SHA256, true},
		{"prehashed, no hash named", d32, crypto.Hash(0), true},
		{"nil opts", d32, nil, true},
		{"length mismatch", d32, crypto.SHA384, false},
		{"empty", nil, crypto.Hash(0), false},
		{"pss", d32, &rsa.PSSOptions{Hash: crypto.SHA256}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := checkDigest(tt.digest, tt.opts); (err == nil) != tt.ok {
				t.Errorf("checkDigest: got %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestConfigValidateReportsAll(t *testing.T) {
	err := Config{TokenLabel: strings.Repeat("x", 33), MaxSessions: -1}.validate()
	if err == nil {
		t.Fatal("validate: got nil error, want one")
	}
	for _, want := range []string{"module", "label", "PIN", "negative"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("validate: got %q, want it to mention %q", err, want)
		}
	}
	ok := Config{Module: "/x.so", TokenLabel: "t", PIN: []byte("1")}
	if err := ok.validate(); err != nil {
		t.Errorf("validate(%+v): got %v, want nil", ok, err)
	}
}
