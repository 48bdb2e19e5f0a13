package tpm

import (
	"bytes"
	"testing"

	"github.com/google/go-tpm/tpm2"
)

// testBlob returns the encoding of a consistent blob with a made-up private
// part: parseBlob checks structure, not the TPM's cryptography.
func testBlob(t testing.TB, pcrs []int, empty bool) []byte {
	t.Helper()
	values := make([][]byte, len(pcrs))
	for i := range values {
		values[i] = bytes.Repeat([]byte{byte(i + 1)}, pcrSize)
	}
	policy, err := policyDigest(pcrs, values, empty)
	if err != nil {
		t.Fatal(err)
	}
	b := sealedBlob{
		flags: emptyFlag(empty), pcrs: pcrs, values: values,
		public:  tpm2.New2B(sealTemplate(policy)),
		private: tpm2.TPM2BPrivate{Buffer: []byte("wrapped by the storage key")},
	}
	b.device[0], b.storage[0] = 1, 2
	return b.encode()
}

func TestBlobRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		pcrs  []int
		empty bool
	}{
		{"one PCR", []int{7}, false},
		{"many PCRs", []int{0, 7, 16, 23}, false},
		{"empty secret", []int{16}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := testBlob(t, tt.pcrs, tt.empty)
			b, err := parseBlob(data)
			if err != nil {
				t.Fatalf("parseBlob: %v", err)
			}
			if got := b.encode(); !bytes.Equal(got, data) {
				t.Errorf("encode(parseBlob(x)): got %x, want %x", got, data)
			}
			if b.empty() != tt.empty {
				t.Errorf("empty(): got %v, want %v", b.empty(), tt.empty)
			}
		})
	}
}

// FuzzParseBlob requires parseBlob never to panic and to accept only blobs
// it would encode identically.
func FuzzParseBlob(f *testing.F) {
	f.Add(testBlob(f, []int{7}, false))
	f.Add(testBlob(f, []int{0, 7, 16, 23}, true))
	f.Add([]byte(blobMagic + "\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := parseBlob(data)
		if err != nil {
			return
		}
		if got := b.encode(); !bytes.Equal(got, data) {
			t.Errorf("encode(parseBlob(x)): got %x, want %x", got, data)
		}
	})
}
