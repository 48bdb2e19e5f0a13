package backupfile_test

import (
	"bytes"
	"testing"
)

// FuzzReader requires the reader never to panic, to fail only with a
// sentinel error, to return only entries of the authentic file the header
// names (in order, even when it fails later), and to accept only files that
// re-encode byte for byte to themselves. Seeds encode deterministically
// (their file ID derives from their content) so a cached corpus stays valid.
func FuzzReader(f *testing.F) {
	type seed struct {
		meta    string
		entries []entry
	}
	seeds := []seed{
		{`{}`, nil},
		{`{"node":"kw1"}`, []entry{{"/kw/v1/keys/a", []byte("sealed a")}, {"/kw/v1/keys/b", nil}}},
		{`{}`, manyEntries(400, 300)}, // two chunks
	}
	byFileID := map[string]seed{}
	for _, s := range seeds {
		f.Add(writeBackup(f, s.meta, s.entries))
		byFileID[string(fileIDFor(s.meta, s.entries))] = s
	}
	f.Add([]byte{})
	f.Add([]byte("KWBACKUP"))
	f.Add([]byte("not a backup"))

	f.Fuzz(func(t *testing.T, data []byte) {
		h, meta, got, err := readBackup(data, testKey)
		if err != nil && !isSentinel(err) {
			t.Fatalf("error wraps no sentinel: %v", err)
		}
		if meta == nil {
			if err == nil {
				t.Fatal("success without metadata")
			}
			return // Open failed: nothing was returned.
		}
		s, ok := byFileID[string(h.FileID)]
		if !ok {
			t.Fatalf("opened a file with an unknown file ID %x", h.FileID)
		}
		if string(meta) != s.meta || len(got) > len(s.entries) {
			t.Fatalf("returned meta %q and %d entries, the authentic file has %q and %d", meta, len(got), s.meta, len(s.entries))
		}
		for i, e := range got {
			if e.key != s.entries[i].key || !bytes.Equal(e.value, s.entries[i].value) {
				t.Fatalf("entry %d: got %q, the authentic file has %q", i, e.key, s.entries[i].key)
			}
		}
		if err == nil && !bytes.Equal(data, writeBackup(t, string(meta), got)) {
			t.Fatalf("accepted %d bytes that are not the encoding of what was read", len(data))
		}
	})
}
