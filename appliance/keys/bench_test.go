package keys_test

import (
	"crypto/sha256"
	"testing"

	"github.com/keywarden/keywarden/appliance/keys"
)

// BenchmarkSign measures the API's hot path on keys restored from storage,
// as the service holds them.
func BenchmarkSign(b *testing.B) {
	digest := sha256.Sum256([]byte("benchmark"))
	pkcs1Msg := append(append([]byte{}, digestInfoSHA256...), digest[:]...)
	tests := []struct {
		name  string
		typ   keys.Type
		bits  int
		mechs []keys.Mechanism
		mode  keys.SignMode
		msg   []byte
	}{
		{"p256", keys.TypeECP256, 0, ecdsaMechs, keys.SignECDSA, digest[:]},
		{"ed25519", keys.TypeCurve25519, 0, eddsaMechs, keys.SignEdDSA, []byte("a message of moderate length to be signed")},
		{"rsa2048", keys.TypeRSA, 2048, []keys.Mechanism{keys.MechRSASignaturePKCS1}, keys.SignPKCS1, pkcs1Msg},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			data, err := mustGenerate(b, tt.typ, tt.bits, tt.mechs).MarshalBinary()
			if err != nil {
				b.Fatal(err)
			}
			var k keys.Key
			if err := k.UnmarshalBinary(data); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := k.Sign(tt.mode, tt.msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
