package keys

import (
	"bytes"
	"crypto/rsa"
	"errors"
	"math/big"
	"testing"
)

// 8192-bit keys are accepted but too slow to generate in tests, so the
// length check is tested on its own.
func TestCheckRSAGenerateBits(t *testing.T) {
	tests := []struct {
		bits int
		want error
	}{
		{1024, nil}, {2048, nil}, {3072, nil}, {4096, nil}, {6144, nil}, {8192, nil}, {1032, nil},
		{0, ErrInvalid}, {-2048, ErrInvalid}, {512, ErrInvalid}, {1016, ErrInvalid},
		{8200, ErrInvalid}, {16384, ErrInvalid}, {2047, ErrInvalid}, {2052, ErrInvalid},
	}
	for _, tt := range tests {
		err := checkRSAGenerateBits(tt.bits)
		if (tt.want == nil) != (err == nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Errorf("checkRSAGenerateBits(%d) = %v, want %v", tt.bits, err, tt.want)
		}
	}
}

// Imported keys may have any modulus size in range, not only whole bytes.
func TestCheckRSABits(t *testing.T) {
	for bits, ok := range map[int]bool{1023: false, 1024: true, 2047: true, 8192: true, 8193: false} {
		if err := checkRSABits(bits); (err == nil) != ok {
			t.Errorf("checkRSABits(%d) = %v, want ok=%v", bits, err, ok)
		}
	}
}

// Signing is the hot path: stored RSA keys must come back with their CRT
// values, or every signature would recompute them.
func TestUnmarshalPrecomputesRSA(t *testing.T) {
	k, err := Generate(nil, TypeRSA, 1024, []Mechanism{MechRSASignaturePKCS1})
	if err != nil {
		t.Fatal(err)
	}
	data, err := k.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got Key
	if err := got.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	pre := got.signer.(*rsa.PrivateKey).Precomputed
	if pre.Dp == nil || pre.Dq == nil || pre.Qinv == nil {
		t.Fatalf("Precomputed = %+v, want Dp, Dq and Qinv set", pre)
	}
}

// The CRT path of rawDecrypt must agree with the plain exponentiation.
func TestCRTExp(t *testing.T) {
	k, err := Generate(nil, TypeRSA, 1024, []Mechanism{MechRSADecryptionRAW})
	if err != nil {
		t.Fatal(err)
	}
	priv := k.signer.(*rsa.PrivateKey)
	for _, c := range []int64{0, 1, 2, 65537, 1 << 62} {
		x := big.NewInt(c)
		want := new(big.Int).Exp(x, priv.D, priv.N)
		if got := crtExp(priv, x); !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Errorf("crtExp(%d) = %x, want %x", c, got, want)
		}
	}
}
