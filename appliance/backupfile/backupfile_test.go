package backupfile_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/appliance/backupfile"
)

var (
	testKey  = bytes.Repeat([]byte{0x42}, backupfile.KeySize)
	otherKey = bytes.Repeat([]byte{0x43}, backupfile.KeySize)
	testKDF  = backupfile.KDF{Alg: backupfile.KDFArgon2id, Time: 1, MemoryKiB: 64, Threads: 1}
	testSalt = bytes.Repeat([]byte{0x07}, 16)
)

type entry struct {
	key   string
	value []byte
}

// fileIDFor derives a file ID from the content, so the same content always
// encodes to the same bytes (the fuzz target relies on it).
func fileIDFor(meta string, entries []entry) []byte {
	sum := sha256.Sum256(fmt.Appendf(nil, "%q %q", meta, entries))
	return sum[:16]
}

// writeBackup encodes meta and entries under testKey.
func writeBackup(t testing.TB, meta string, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := backupfile.NewWriterWithFileID(&buf, testKey, testKDF, testSalt, fileIDFor(meta, entries), []byte(meta))
	if err != nil {
		t.Fatalf("NewWriter: %v", err)
	}
	for _, e := range entries {
		if err := w.Add(e.key, e.value); err != nil {
			t.Fatalf("Add(%q): %v", e.key, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return buf.Bytes()
}

// readBackup reads data with key to the end. It returns the header when it
// parsed, and every entry Next returned, even when it then failed.
func readBackup(data, key []byte) (h *backupfile.Header, meta []byte, got []entry, err error) {
	o, err := backupfile.ReadHeader(bytes.NewReader(data))
	if err != nil {
		return nil, nil, nil, err
	}
	hdr := o.Header()
	r, err := o.Open(key)
	if err != nil {
		return &hdr, nil, nil, err
	}
	for {
		k, v, err := r.Next()
		if errors.Is(err, io.EOF) {
			return &hdr, r.Meta(), got, nil
		}
		if err != nil {
			return &hdr, r.Meta(), got, err
		}
		got = append(got, entry{k, v})
	}
}

func verify(data []byte) error {
	_, _, err := backupfile.Verify(bytes.NewReader(data), func(backupfile.Header) ([]byte, error) {
		return testKey, nil
	})
	return err
}

var sentinels = []error{
	backupfile.ErrNotBackup, backupfile.ErrVersion, backupfile.ErrFormat,
	backupfile.ErrWrongKey, backupfile.ErrTampered, backupfile.ErrTruncated,
}

func isSentinel(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// splitChunks cuts a backup into its header and its length-prefixed chunks.
func splitChunks(t testing.TB, data []byte) (header []byte, chunks [][]byte) {
	t.Helper()
	end := 14 + int(binary.BigEndian.Uint32(data[10:14]))
	header, rest := data[:end], data[end:]
	for len(rest) > 0 {
		n := 4 + int(binary.BigEndian.Uint32(rest[:4]))
		chunks = append(chunks, rest[:n])
		rest = rest[n:]
	}
	return header, chunks
}

func join(header []byte, chunks ...[]byte) []byte {
	return bytes.Join(append([][]byte{header}, chunks...), nil)
}

func manyEntries(n, maxValue int) []entry {
	entries := make([]entry, n)
	for i := range entries {
		entries[i] = entry{fmt.Sprintf("/kw/v1/keys/key-%06d", i), bytes.Repeat([]byte{byte(i)}, i%maxValue)}
	}
	return entries
}

func TestRoundTrip(t *testing.T) {
	// One entry whose records fill exactly one chunk: meta (9 bytes), entry
	// (6 + value), end (4 bytes).
	exactChunk := []entry{{"k", make([]byte, backupfile.ChunkSize-19)}}
	tests := []struct {
		name    string
		meta    string
		entries []entry
		chunks  int
	}{
		{"no entries", `{}`, nil, 1},
		{"one entry", `{"node":"kw1"}`, []entry{{"/kw/v1/keys/a", []byte("sealed a")}}, 1},
		{"empty value", `{}`, []entry{{"/kw/v1/keys/a", nil}}, 1},
		{"records span chunks", `{}`, manyEntries(3000, 300), 9},
		{"value bigger than a chunk", `{}`, []entry{{"big", bytes.Repeat([]byte("x"), 3*backupfile.ChunkSize+5)}, {"after", []byte("y")}}, 4},
		{"stream fills exactly one chunk", `{}`, exactChunk, 1},
		{"largest key and value", `[1,2]`, []entry{{strings.Repeat("k", backupfile.MaxKeyLen), make([]byte, backupfile.MaxValueLen)}}, 257},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := writeBackup(t, tt.meta, tt.entries)
			_, chunks := splitChunks(t, data)
			if len(chunks) != tt.chunks {
				t.Errorf("got %d chunks, want %d", len(chunks), tt.chunks)
			}
			_, meta, got, err := readBackup(data, testKey)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if string(meta) != tt.meta {
				t.Errorf("meta: got %q, want %q", meta, tt.meta)
			}
			if len(got) != len(tt.entries) {
				t.Fatalf("got %d entries, want %d", len(got), len(tt.entries))
			}
			for i := range got {
				if got[i].key != tt.entries[i].key || !bytes.Equal(got[i].value, tt.entries[i].value) {
					t.Fatalf("entry %d: got key %q (%d bytes), want %q (%d bytes)", i, got[i].key, len(got[i].value), tt.entries[i].key, len(tt.entries[i].value))
				}
			}
			meta, n, err := backupfile.Verify(bytes.NewReader(data), func(h backupfile.Header) ([]byte, error) {
				if h.KDF != testKDF || !bytes.Equal(h.Salt, testSalt) {
					t.Errorf("Verify's header: got %+v, want the writer's KDF and salt", h)
				}
				return testKey, nil
			})
			if err != nil || n != len(tt.entries) || string(meta) != tt.meta {
				t.Errorf("Verify: got (%q, %d, %v), want (%q, %d, nil)", meta, n, err, tt.meta, len(tt.entries))
			}
		})
	}
}

func TestNextAfterEnd(t *testing.T) {
	data := writeBackup(t, `{}`, []entry{{"a", []byte("1")}})
	o, err := backupfile.ReadHeader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	r, err := o.Open(testKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Next(); err != nil {
		t.Fatalf("first Next: %v", err)
	}
	for i := range 2 {
		if _, _, err := r.Next(); err != io.EOF {
			t.Fatalf("Next %d after the last entry: got %v, want io.EOF", i, err)
		}
	}
}

func TestWriterRejects(t *testing.T) {
	newWriter := func(kdf backupfile.KDF, salt, meta []byte, key []byte) error {
		_, err := backupfile.NewWriter(io.Discard, key, kdf, salt, meta)
		return err
	}
	slowKDF := testKDF
	slowKDF.Time = 100
	tests := []struct {
		name string
		err  error
	}{
		{"short key", newWriter(testKDF, testSalt, []byte(`{}`), testKey[:16])},
		{"unknown KDF", newWriter(backupfile.KDF{Alg: "scrypt", Time: 1, MemoryKiB: 64, Threads: 1}, testSalt, []byte(`{}`), testKey)},
		{"KDF too slow", newWriter(slowKDF, testSalt, []byte(`{}`), testKey)},
		{"short salt", newWriter(testKDF, testSalt[:8], []byte(`{}`), testKey)},
		{"meta not JSON", newWriter(testKDF, testSalt, []byte(`{`), testKey)},
		{"meta missing", newWriter(testKDF, testSalt, nil, testKey)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil {
				t.Fatal("NewWriter succeeded, want an error")
			}
		})
	}
}

func TestAddRejects(t *testing.T) {
	w, err := backupfile.NewWriter(io.Discard, testKey, testKDF, testSalt, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		key   string
		value []byte
	}{
		{"empty key", "", nil},
		{"key too long", strings.Repeat("k", backupfile.MaxKeyLen+1), nil},
		{"value too long", "k", make([]byte, backupfile.MaxValueLen+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := w.Add(tt.key, tt.value); err == nil {
				t.Fatal("Add succeeded, want an error")
			}
		})
	}
	if w.Entries() != 0 {
		t.Errorf("Entries after rejected adds: got %d, want 0", w.Entries())
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: got %v, want nil", err)
	}
	if err := w.Add("k", nil); err == nil {
		t.Error("Add after Close succeeded, want an error")
	}
}

type failingWriter struct{ after int }

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, errors.New("disk full")
	}
	f.after--
	return len(p), nil
}

func TestWriteErrorIsSticky(t *testing.T) {
	w, err := backupfile.NewWriter(&failingWriter{after: 1}, testKey, testKDF, testSalt, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, backupfile.ChunkSize)
	if err := w.Add("a", big); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Add that fills a chunk: got %v, want the write error", err)
	}
	if err := w.Add("b", nil); err == nil {
		t.Error("Add after a write error succeeded")
	}
	if err := w.Close(); err == nil {
		t.Error("Close after a write error succeeded")
	}
}

func TestChunkCounterCannotWrap(t *testing.T) {
	w, err := backupfile.NewWriter(io.Discard, testKey, testKDF, testSalt, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	w.SetChunkCounter(1<<64 - 1)
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "more chunks") {
		t.Fatalf("Close with the counter at its maximum: got %v, want the chunk-count error", err)
	}
}
