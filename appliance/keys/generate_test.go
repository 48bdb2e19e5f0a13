package keys_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/keywarden/keywarden/appliance/keys"
)

func TestGenerate(t *testing.T) {
	tests := []struct {
		name     string
		typ      keys.Type
		bits     int
		mechs    []keys.Mechanism
		wantData int // length of PublicData().Data, 0 for RSA
	}{
		{"rsa1024", keys.TypeRSA, 1024, rsaSignMechs, 0},
		{"p256", keys.TypeECP256, 0, ecdsaMechs, 65},
		{"p384 length ignored", keys.TypeECP384, 12345, ecdsaMechs, 97},
		{"p521", keys.TypeECP521, 0, ecdsaMechs, 133},
		{"curve25519", keys.TypeCurve25519, 0, eddsaMechs, 32},
		{"aes128", keys.TypeGeneric, 128, aesMechs, 0},
		{"aes192", keys.TypeGeneric, 192, aesMechs[:1], 0},
		{"aes256", keys.TypeGeneric, 256, aesMechs[1:], 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := mustGenerate(t, tt.typ, tt.bits, tt.mechs)
			if k.Type() != tt.typ {
				t.Errorf("Type() = %s, want %s", k.Type(), tt.typ)
			}
			if got := k.Mechanisms(); !slices.Equal(got, tt.mechs) {
				t.Errorf("Mechanisms() = %v, want %v", got, tt.mechs)
			}
			pd := k.PublicData()
			switch {
			case tt.typ == keys.TypeGeneric && pd != nil:
				t.Errorf("PublicData() = %+v, want nil", pd)
			case tt.typ == keys.TypeRSA && (pd == nil || len(pd.Modulus)*8 != tt.bits):
				t.Errorf("PublicData() = %+v, want a %d-bit modulus", pd, tt.bits)
			case tt.wantData != 0 && (pd == nil || len(pd.Data) != tt.wantData):
				t.Errorf("PublicData() = %+v, want %d bytes of data", pd, tt.wantData)
			}
		})
	}
}

// One large key, as the API's default sizes include 4096 bits.
func TestGenerateRSA4096(t *testing.T) {
	if testing.Short() {
		t.Skip("RSA 4096 generation is slow")
	}
	k := mustGenerate(t, keys.TypeRSA, 4096, []keys.Mechanism{keys.MechRSASignaturePSSSHA256})
	if got := rsaPublic(t, k).N.BitLen(); got != 4096 {
		t.Fatalf("modulus is %d bits, want 4096", got)
	}
	checkSignVerify(t, k, keys.SignPSSSHA256)
}

func TestGenerateErrors(t *testing.T) {
	tests := []struct {
		name  string
		typ   keys.Type
		bits  int
		mechs []keys.Mechanism
		want  error
		text  string // part of the message
	}{
		{"unknown type", "DSA", 2048, rsaSignMechs, keys.ErrInvalid, `"DSA"`},
		{"secp256k1", keys.TypeECP256K1, 0, ecdsaMechs, keys.ErrUnsupported, "EC_P256K1"},
		{"brainpool256", keys.TypeBrainpoolP256, 0, ecdsaMechs, keys.ErrUnsupported, "BrainpoolP256"},
		{"brainpool384", keys.TypeBrainpoolP384, 0, ecdsaMechs, keys.ErrUnsupported, "BrainpoolP384"},
		{"brainpool512", keys.TypeBrainpoolP512, 0, ecdsaMechs, keys.ErrUnsupported, "BrainpoolP512"},
		{"no mechanisms", keys.TypeECP256, 0, nil, keys.ErrInvalid, "at least one"},
		{"unknown mechanism", keys.TypeECP256, 0, []keys.Mechanism{"ECDSA"}, keys.ErrInvalid, `"ECDSA"`},
		{"bip340", keys.TypeECP256, 0, []keys.Mechanism{keys.MechBIP340Signature}, keys.ErrUnsupported, "BIP340_Signature"},
		{"eddsa on rsa", keys.TypeRSA, 2048, eddsaMechs, keys.ErrInvalid, "EdDSA_Signature is not valid for RSA"},
		{"rsa on ec", keys.TypeECP384, 0, rsaSignMechs[:1], keys.ErrInvalid, "not valid for EC_P384"},
		{"aes on ed25519", keys.TypeCurve25519, 0, aesMechs, keys.ErrInvalid, "not valid for Curve25519"},
		{"ecdsa on generic", keys.TypeGeneric, 128, ecdsaMechs, keys.ErrInvalid, "not valid for Generic"},
		{"rsa no length", keys.TypeRSA, 0, rsaSignMechs, keys.ErrInvalid, "length is required"},
		{"rsa too small", keys.TypeRSA, 512, rsaSignMechs, keys.ErrInvalid, "512 bits is outside"},
		{"rsa too large", keys.TypeRSA, 8200, rsaSignMechs, keys.ErrInvalid, "8200 bits is outside"},
		{"rsa odd size", keys.TypeRSA, 1028, rsaSignMechs, keys.ErrInvalid, "multiple of 8"},
		{"aes no length", keys.TypeGeneric, 0, aesMechs, keys.ErrInvalid, "length is required"},
		{"aes 512", keys.TypeGeneric, 512, aesMechs, keys.ErrInvalid, "128, 192 or 256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := keys.Generate(nil, tt.typ, tt.bits, tt.mechs)
			checkErr(t, err, tt.want)
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not mention %q", err, tt.text)
			}
		})
	}
}

func TestGenerateUsesRand(t *testing.T) {
	seed := bytes.Repeat([]byte{7}, 64)
	a := mustGenerateFrom(t, bytes.NewReader(seed))
	b := mustGenerateFrom(t, bytes.NewReader(seed))
	if !bytes.Equal(a.PublicData().Data, b.PublicData().Data) {
		t.Errorf("same seed gave different Curve25519 keys")
	}
	_, err := keys.Generate(iotest.ErrReader(errors.New("no entropy")), keys.TypeGeneric, 256, aesMechs)
	if err == nil || !strings.Contains(err.Error(), "no entropy") {
		t.Errorf("got error %v, want the reader's error", err)
	}
}

func mustGenerateFrom(t *testing.T, r *bytes.Reader) *keys.Key {
	t.Helper()
	k, err := keys.Generate(r, keys.TypeCurve25519, 0, eddsaMechs)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestMechanismsDeduplicated(t *testing.T) {
	k := mustGenerate(t, keys.TypeGeneric, 128, []keys.Mechanism{
		keys.MechAESDecryptionCBC, keys.MechAESEncryptionCBC, keys.MechAESDecryptionCBC})
	want := []keys.Mechanism{keys.MechAESDecryptionCBC, keys.MechAESEncryptionCBC}
	if got := k.Mechanisms(); !slices.Equal(got, want) {
		t.Errorf("Mechanisms() = %v, want %v", got, want)
	}
	k.Mechanisms()[0] = keys.MechAESEncryptionCBC
	if got := k.Mechanisms(); !slices.Equal(got, want) {
		t.Errorf("after changing the returned slice, Mechanisms() = %v, want %v", got, want)
	}
}
