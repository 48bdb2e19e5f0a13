package backupfile_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/appliance/backupfile"
)

// record encodes one plaintext record: kind, key and value, length-prefixed.
func record(kind byte, key string, value []byte) []byte {
	b := binary.AppendUvarint([]byte{kind}, uint64(len(key)))
	b = append(b, key...)
	b = binary.AppendUvarint(b, uint64(len(value)))
	return append(b, value...)
}

func endRecord(entries uint64) []byte { return record(3, "", binary.AppendUvarint(nil, entries)) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// sealed encodes an authentic backup whose chunks hold exactly the given
// plaintexts; the last one is the final chunk.
func sealed(t testing.TB, chunks ...[]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := backupfile.StartWriter(&buf, testKey, testKDF, testSalt, make([]byte, 16))
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range chunks {
		if err := w.WritePlain(c); err != nil {
			t.Fatal(err)
		}
		if err := w.SealChunk(i == len(chunks)-1); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// TestAuthenticRecordStreams checks the reader's rules on record streams
// that authenticate but break the format.
func TestAuthenticRecordStreams(t *testing.T) {
	meta := record(1, "meta", []byte(`{}`))
	entry := record(2, "k", []byte("v"))
	// meta + entry + end fill exactly one chunk.
	filler := record(2, "k", make([]byte, backupfile.ChunkSize-len(meta)-len(endRecord(1))-6))
	full := cat(meta, filler, endRecord(1))
	if len(full) != backupfile.ChunkSize {
		t.Fatalf("test setup: full chunk is %d bytes", len(full))
	}
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"valid", sealed(t, cat(meta, entry, endRecord(1))), nil},
		{"valid with an empty final chunk", sealed(t, full, nil), nil},
		{"empty stream", sealed(t, nil), backupfile.ErrFormat},
		{"no metadata", sealed(t, cat(entry, endRecord(1))), backupfile.ErrFormat},
		{"metadata under another key", sealed(t, cat(record(1, "metadata", []byte(`{}`)), endRecord(0))), backupfile.ErrFormat},
		{"metadata not JSON", sealed(t, cat(record(1, "meta", []byte(`{`)), endRecord(0))), backupfile.ErrFormat},
		{"metadata twice", sealed(t, cat(meta, meta, endRecord(0))), backupfile.ErrFormat},
		{"unknown kind", sealed(t, cat(meta, record(4, "k", nil), endRecord(1))), backupfile.ErrFormat},
		{"kind zero", sealed(t, cat(meta, record(0, "k", nil), endRecord(1))), backupfile.ErrFormat},
		{"end count too high", sealed(t, cat(meta, entry, endRecord(2))), backupfile.ErrFormat},
		{"end count too low", sealed(t, cat(meta, entry, endRecord(0))), backupfile.ErrFormat},
		{"end count not minimal", sealed(t, cat(meta, entry, record(3, "", []byte{0x81, 0x00}))), backupfile.ErrFormat},
		{"end count with extra bytes", sealed(t, cat(meta, entry, record(3, "", []byte{1, 0}))), backupfile.ErrFormat},
		{"end record with a key", sealed(t, cat(meta, record(3, "x", []byte{0}))), backupfile.ErrFormat},
		{"entry after the end record", sealed(t, cat(meta, endRecord(0), entry)), backupfile.ErrFormat},
		{"no end record", sealed(t, cat(meta, entry)), backupfile.ErrFormat},
		{"record cut short", sealed(t, cat(meta, entry[:len(entry)-1])), backupfile.ErrFormat},
		{"end record cut short", sealed(t, cat(meta, endRecord(0)[:2])), backupfile.ErrFormat},
		{"empty entry key", sealed(t, cat(meta, record(2, "", []byte("v")), endRecord(1))), backupfile.ErrFormat},
		{"key too long", sealed(t, cat(meta, record(2, strings.Repeat("k", backupfile.MaxKeyLen+1), nil), endRecord(1))), backupfile.ErrFormat},
		{"value too long", sealed(t, cat(meta, binary.AppendUvarint([]byte{2, 1, 'k'}, backupfile.MaxValueLen+1))), backupfile.ErrFormat},
		{"length not minimal", sealed(t, cat(meta, []byte{2, 0x81, 0x00, 'k', 0}, endRecord(1))), backupfile.ErrFormat},
		{"length overflows", sealed(t, cat(meta, []byte{2}, bytes.Repeat([]byte{0xff}, 9), []byte{0x02})), backupfile.ErrFormat},
		{"short chunk not last", sealed(t, meta, endRecord(0)), backupfile.ErrFormat},
		{"end record, then no final chunk", firstChunkOnly(t, sealed(t, full, nil)), backupfile.ErrTruncated},
		{"two final chunks", cat(sealed(t, cat(meta, endRecord(0))), lastChunk(t, sealed(t, cat(meta, endRecord(0))))), backupfile.ErrTampered},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := verify(tt.data); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func firstChunkOnly(t testing.TB, data []byte) []byte {
	header, chunks := splitChunks(t, data)
	return join(header, chunks[0])
}

func lastChunk(t testing.TB, data []byte) []byte {
	_, chunks := splitChunks(t, data)
	return chunks[len(chunks)-1]
}
