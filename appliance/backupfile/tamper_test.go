package backupfile_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/appliance/backupfile"
)

func smallBackup(t testing.TB) []byte {
	return writeBackup(t, `{"node":"kw1"}`, []entry{{"/kw/v1/keys/a", []byte("sealed a")}, {"/kw/v1/keys/b", []byte("sealed b")}})
}

// threeChunks is a backup of three chunks (two full, one final).
func threeChunks(t testing.TB) []byte {
	t.Helper()
	data := writeBackup(t, `{}`, []entry{{"big", make([]byte, 2*backupfile.ChunkSize)}})
	if _, chunks := splitChunks(t, data); len(chunks) != 3 {
		t.Fatalf("got %d chunks, want 3", len(chunks))
	}
	return data
}

func TestEveryByteFlipIsDetected(t *testing.T) {
	data := smallBackup(t)
	for i := range data {
		for _, mask := range []byte{0x01, 0x80} {
			flipped := bytes.Clone(data)
			flipped[i] ^= mask
			err := verify(flipped)
			if err == nil || !isSentinel(err) {
				t.Fatalf("byte %d ^ %#x: got %v, want a sentinel error", i, mask, err)
			}
		}
	}
}

func TestEveryTruncationIsDetected(t *testing.T) {
	data := smallBackup(t)
	for n := range len(data) {
		want := backupfile.ErrTruncated
		if n < 8 {
			want = backupfile.ErrNotBackup
		}
		if err := verify(data[:n]); !errors.Is(err, want) {
			t.Fatalf("first %d of %d bytes: got %v, want %v", n, len(data), err, want)
		}
	}
}

func TestChunkTampering(t *testing.T) {
	data := threeChunks(t)
	header, c := splitChunks(t, data)
	otherHeader, o := splitChunks(t, writeBackup(t, `{"other":1}`, []entry{{"big", make([]byte, 2*backupfile.ChunkSize)}}))
	boundary := len(header) + len(c[0])
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"untouched", data, nil},
		{"cut at a chunk boundary", data[:boundary], backupfile.ErrTruncated},
		{"cut inside a chunk length", data[:boundary+2], backupfile.ErrTruncated},
		{"cut inside a chunk", data[:boundary+100], backupfile.ErrTruncated},
		{"final chunk dropped", join(header, c[0], c[1]), backupfile.ErrTruncated},
		{"no chunks", header, backupfile.ErrTruncated},
		{"chunks swapped", join(header, c[1], c[0], c[2]), backupfile.ErrTampered},
		{"middle chunk dropped", join(header, c[0], c[2]), backupfile.ErrTampered},
		{"chunk repeated", join(header, c[0], c[0], c[1], c[2]), backupfile.ErrTampered},
		{"one trailing byte", append(bytes.Clone(data), 0), backupfile.ErrTampered},
		{"final chunk repeated", join(header, c[0], c[1], c[2], c[2]), backupfile.ErrTampered},
		{"chunk from another backup", join(header, c[0], o[1], c[2]), backupfile.ErrTampered},
		{"header from another backup", join(otherHeader, c...), backupfile.ErrTampered},
		{"chunk length too large", join(header, lengthPrefix(c[0], 1<<20)), backupfile.ErrTampered},
		{"chunk length below a tag", join(header, lengthPrefix(c[0], 15)), backupfile.ErrTampered},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := verify(tt.data); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

// lengthPrefix returns chunk with its length field replaced.
func lengthPrefix(chunk []byte, n uint32) []byte {
	c := bytes.Clone(chunk)
	binary.BigEndian.PutUint32(c, n)
	return c
}

func TestEntriesBeforeTamperingAreAuthentic(t *testing.T) {
	entries := manyEntries(2000, 300)
	data := writeBackup(t, `{}`, entries)
	header, c := splitChunks(t, data)
	tampered := bytes.Clone(c[2])
	tampered[100] ^= 1
	_, _, got, err := readBackup(join(header, c[0], c[1], tampered, c[3]), testKey)
	if !errors.Is(err, backupfile.ErrTampered) || !strings.Contains(err.Error(), "chunk 2") {
		t.Fatalf("got %v, want ErrTampered naming chunk 2", err)
	}
	if len(got) == 0 || len(got) >= len(entries) {
		t.Fatalf("got %d entries before the error, want some but not all %d", len(got), len(entries))
	}
	for i, e := range got {
		if e.key != entries[i].key || !bytes.Equal(e.value, entries[i].value) {
			t.Fatalf("entry %d before the error: got %q, want %q", i, e.key, entries[i].key)
		}
	}
}

func TestWrongKey(t *testing.T) {
	data := smallBackup(t)
	o, err := backupfile.ReadHeader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	_, err = o.Open(otherKey)
	if !errors.Is(err, backupfile.ErrWrongKey) {
		t.Fatalf("Open with another key: got %v, want ErrWrongKey", err)
	}
	for _, secret := range []string{string(otherKey), hex.EncodeToString(otherKey), fmt.Sprint(otherKey)} {
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("the error %q shows the key", err)
		}
	}
	r, err := o.Open(testKey)
	if err != nil {
		t.Fatalf("Open with the right key after a wrong one: %v", err)
	}
	if string(r.Meta()) != `{"node":"kw1"}` {
		t.Errorf("meta: got %q", r.Meta())
	}
	if _, err := o.Open(testKey); err == nil {
		t.Error("second Open after success: got nil, want an error")
	}
}

func TestNotABackup(t *testing.T) {
	valid := smallBackup(t)
	withVersion := func(v uint16) []byte {
		d := bytes.Clone(valid)
		binary.BigEndian.PutUint16(d[8:], v)
		return d
	}
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, backupfile.ErrNotBackup},
		{"garbage", []byte("this is not a backup at all, just text"), backupfile.ErrNotBackup},
		{"short garbage", []byte("hi"), backupfile.ErrNotBackup},
		{"magic prefix only", []byte("KWBACK"), backupfile.ErrNotBackup},
		{"lower-case magic", append([]byte("kwbackup"), valid[8:]...), backupfile.ErrNotBackup},
		{"version 2", withVersion(2), backupfile.ErrVersion},
		{"version 0", withVersion(0), backupfile.ErrVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := verify(tt.data); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

// rawHeader encodes a header from literal JSON.
func rawHeader(js string) []byte {
	b := append([]byte("KWBACKUP"), 0, 1)
	b = binary.BigEndian.AppendUint32(b, uint32(len(js)))
	return append(b, js...)
}

func TestBadHeaders(t *testing.T) {
	const (
		salt  = `"BwcHBwcHBwcHBwcHBwcHBw=="` // 16 bytes
		id    = `"AAAAAAAAAAAAAAAAAAAAAA=="` // 16 bytes
		short = `"AAAA"`                     // 3 bytes
	)
	header := func(kdf, salt, id, check string) string {
		return fmt.Sprintf(`{"kdf":%s,"salt":%s,"fileId":%s,"keyCheck":%s}`, kdf, salt, id, check)
	}
	goodKDF := `{"alg":"argon2id","time":1,"memoryKiB":64,"threads":1}`
	tests := []struct {
		name string
		data []byte
	}{
		{"unknown alg", rawHeader(header(`{"alg":"scrypt","time":1,"memoryKiB":64,"threads":1}`, salt, id, id))},
		{"zero time", rawHeader(header(`{"alg":"argon2id","time":0,"memoryKiB":64,"threads":1}`, salt, id, id))},
		{"huge time", rawHeader(header(`{"alg":"argon2id","time":4294967295,"memoryKiB":64,"threads":1}`, salt, id, id))},
		{"huge memory", rawHeader(header(`{"alg":"argon2id","time":1,"memoryKiB":4294967295,"threads":1}`, salt, id, id))},
		{"tiny memory", rawHeader(header(`{"alg":"argon2id","time":1,"memoryKiB":4,"threads":1}`, salt, id, id))},
		{"memory below 8 KiB a lane", rawHeader(header(`{"alg":"argon2id","time":1,"memoryKiB":64,"threads":16}`, salt, id, id))},
		{"zero threads", rawHeader(header(`{"alg":"argon2id","time":1,"memoryKiB":64,"threads":0}`, salt, id, id))},
		{"threads beyond a byte", rawHeader(header(`{"alg":"argon2id","time":1,"memoryKiB":64,"threads":300}`, salt, id, id))},
		{"missing kdf", rawHeader(`{"salt":` + salt + `,"fileId":` + id + `,"keyCheck":` + id + `}`)},
		{"short salt", rawHeader(header(goodKDF, short, id, id))},
		{"short file ID", rawHeader(header(goodKDF, salt, short, id))},
		{"missing key check", rawHeader(header(goodKDF, salt, id, `null`))},
		{"salt not base64", rawHeader(header(goodKDF, `"!!"`, id, id))},
		{"unknown field", rawHeader(`{"kdf":` + goodKDF + `,"salt":` + salt + `,"fileId":` + id + `,"keyCheck":` + id + `,"x":1}`)},
		{"two objects", rawHeader(header(goodKDF, salt, id, id) + "{}")},
		{"not JSON", rawHeader(`not json`)},
		{"JSON array", rawHeader(`[]`)},
		{"zero length", rawHeader(``)},
		{"length beyond the limit", binary.BigEndian.AppendUint32([]byte("KWBACKUP\x00\x01"), 4097)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := backupfile.ReadHeader(bytes.NewReader(tt.data))
			if !errors.Is(err, backupfile.ErrFormat) {
				t.Errorf("got %v, want ErrFormat", err)
			}
		})
	}
	// The same header with sane values parses, so the cases above fail for
	// the reason they name.
	if _, err := backupfile.ReadHeader(bytes.NewReader(rawHeader(header(goodKDF, salt, id, id)))); err != nil {
		t.Errorf("a sane header: got %v, want nil", err)
	}
}
