package backupfile_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"testing"

	"github.com/keywarden/keywarden/appliance/backupfile"
)

// liveHeap returns the bytes reachable after a full collection, which does
// not depend on when the collector last ran.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestMemoryStaysFlat streams 100k entries (about 22 MB) from a Writer to a
// Reader through a pipe and checks that the live heap never grows by more
// than a few chunks' worth: neither side may keep what it has passed on.
func TestMemoryStaysFlat(t *testing.T) {
	const entries = 100_000
	value := bytes.Repeat([]byte("v"), 200)
	pr, pw := io.Pipe()
	defer pr.Close()
	go func() {
		w, err := backupfile.NewWriter(pw, testKey, testKDF, testSalt, []byte(`{}`))
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		for i := range entries {
			if err := w.Add(fmt.Sprintf("/kw/v1/keys/key-%06d", i), value); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(w.Close()) // a nil error closes with io.EOF
	}()

	base := liveHeap()
	o, err := backupfile.ReadHeader(pr)
	if err != nil {
		t.Fatal(err)
	}
	r, err := o.Open(testKey)
	if err != nil {
		t.Fatal(err)
	}
	var peak uint64
	n := 0
	for {
		_, _, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("after %d entries: %v", n, err)
		}
		if n++; n%10_000 == 0 {
			peak = max(peak, liveHeap())
		}
	}
	if n != entries {
		t.Fatalf("read %d entries, want %d", n, entries)
	}
	const limit = 4 << 20
	if peak > base && peak-base > limit {
		t.Errorf("live heap grew by %d bytes while streaming %d entries, want at most %d", peak-base, entries, limit)
	}
}

// TestAllocationsPerEntry checks that adding an entry allocates nothing and
// reading one allocates only the key and value it returns.
func TestAllocationsPerEntry(t *testing.T) {
	value := make([]byte, 1000)
	w, err := backupfile.NewWriter(io.Discard, testKey, testKDF, testSalt, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := testing.AllocsPerRun(500, func() {
		if err := w.Add("/kw/v1/keys/a-key-longer-than-32-bytes", value); err != nil {
			t.Fatal(err)
		}
	}); got != 0 {
		t.Errorf("Add: got %v allocations per entry, want 0", got)
	}

	o, err := backupfile.ReadHeader(bytes.NewReader(writeBackup(t, `{}`, manyEntries(1000, 1000))))
	if err != nil {
		t.Fatal(err)
	}
	r, err := o.Open(testKey)
	if err != nil {
		t.Fatal(err)
	}
	if got := testing.AllocsPerRun(500, func() {
		if _, _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
	}); got > 2 {
		t.Errorf("Next: got %v allocations per entry, want at most 2 (key and value)", got)
	}
}
