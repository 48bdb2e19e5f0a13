package backupfile

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Record kinds of the plaintext stream.
const (
	kindMeta  = 1
	kindEntry = 2
	kindEnd   = 3
)

const (
	// MaxKeyLen is the longest entry key, in bytes.
	MaxKeyLen = 4 << 10
	// MaxValueLen is the longest entry value (and metadata), in bytes.
	MaxValueLen = 16 << 20

	metaKey = "meta"
)

var errClosed = errors.New("backupfile: the writer is closed")

// Writer writes one backup file. Entries are encrypted a chunk at a time as
// they are added, so its memory is constant whatever the number of entries.
// The file is valid only once Close has returned nil; a file whose Writer was
// never closed reads as truncated.
type Writer struct {
	w       io.Writer
	stream  *stream
	buf     []byte // chunk length, then up to ChunkSize plaintext, then room for the tag
	n       int    // plaintext bytes in buf
	entries int
	closed  bool
	err     error // the first write error; every later call returns it
}

// NewWriter writes the header of a new backup to w and starts its record
// stream with meta, a JSON document describing the backup. key is the
// KeySize-byte backup key the caller derived from the passphrase with kdf and
// salt, which the header records for the reader.
func NewWriter(w io.Writer, key []byte, kdf KDF, salt, meta []byte) (*Writer, error) {
	fileID := make([]byte, fileIDSize)
	rand.Read(fileID) // never fails since Go 1.24: it crashes the program instead
	return newWriter(w, key, kdf, salt, fileID, meta)
}

// newWriter is NewWriter with a given file ID.
func newWriter(w io.Writer, key []byte, kdf KDF, salt, fileID, meta []byte) (*Writer, error) {
	if len(meta) > MaxValueLen || !json.Valid(meta) {
		return nil, fmt.Errorf("backupfile: new writer: the metadata must be valid JSON of at most %d bytes", MaxValueLen)
	}
	bw, err := startWriter(w, key, kdf, salt, fileID)
	if err != nil {
		return nil, err
	}
	if err := bw.writeRecord(kindMeta, metaKey, meta); err != nil {
		return nil, err
	}
	return bw, nil
}

// startWriter writes the header and returns a Writer at the start of the
// record stream.
func startWriter(w io.Writer, key []byte, kdf KDF, salt, fileID []byte) (*Writer, error) {
	if problems := validateKDF(kdf, salt); len(problems) > 0 {
		return nil, fmt.Errorf("backupfile: new writer: %s", strings.Join(problems, "; "))
	}
	payloadKey, check, err := deriveKeys(key, fileID)
	if err != nil {
		return nil, err
	}
	defer clear(payloadKey)
	raw, err := encodeHeader(Header{KDF: kdf, Salt: salt, FileID: fileID, KeyCheck: check})
	if err != nil {
		return nil, fmt.Errorf("backupfile: new writer: %w", err)
	}
	s, err := newStream(payloadKey, raw)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(raw); err != nil {
		return nil, fmt.Errorf("backupfile: write header: %w", err)
	}
	return &Writer{w: w, stream: s, buf: make([]byte, chunkLengthSize+maxSealedChunk)}, nil
}

// Add appends one entry. key must be 1..MaxKeyLen bytes and value at most
// MaxValueLen bytes.
func (w *Writer) Add(key string, value []byte) error {
	switch {
	case w.closed:
		return errClosed
	case w.err != nil:
		return w.err
	case key == "" || len(key) > MaxKeyLen:
		return fmt.Errorf("backupfile: add: the key is %d bytes, want 1..%d", len(key), MaxKeyLen)
	case len(value) > MaxValueLen:
		return fmt.Errorf("backupfile: add %q: the value is %d bytes, the limit is %d", key, len(value), MaxValueLen)
	}
	if err := w.writeRecord(kindEntry, key, value); err != nil {
		return err
	}
	w.entries++
	return nil
}

// Entries returns the number of entries added so far.
func (w *Writer) Entries() int { return w.entries }

// Close writes the end record, which counts the entries, and seals the final
// chunk. It does not close the underlying writer. Calling it again returns
// the first call's result.
func (w *Writer) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	defer clear(w.buf)
	if w.err != nil {
		return w.err
	}
	var count [binary.MaxVarintLen64]byte
	if err := w.writeRecord(kindEnd, "", binary.AppendUvarint(count[:0], uint64(w.entries))); err != nil {
		return err
	}
	return w.sealChunk(true)
}

// writeRecord appends kind, key and value, each length-prefixed, to the
// plaintext stream.
func (w *Writer) writeRecord(kind byte, key string, value []byte) error {
	var prefix [1 + binary.MaxVarintLen64]byte
	head := append(prefix[:0], kind)
	head = binary.AppendUvarint(head, uint64(len(key)))
	if err := writePlain(w, head); err != nil {
		return err
	}
	if err := writePlain(w, key); err != nil {
		return err
	}
	head = binary.AppendUvarint(prefix[:0], uint64(len(value)))
	if err := writePlain(w, head); err != nil {
		return err
	}
	return writePlain(w, value)
}

// writePlain adds p to the plaintext stream. A full chunk is sealed only when
// more plaintext arrives, so that the last chunk, sealed by Close, is never
// empty unless the whole stream is.
func writePlain[T string | []byte](w *Writer, p T) error {
	for len(p) > 0 {
		if w.n == ChunkSize {
			if err := w.sealChunk(false); err != nil {
				return err
			}
		}
		k := copy(w.buf[chunkLengthSize+w.n:chunkLengthSize+ChunkSize], p)
		w.n += k
		p = p[k:]
	}
	return nil
}

// sealChunk encrypts the buffered plaintext in place and writes it as the
// next chunk.
func (w *Writer) sealChunk(final bool) error {
	if w.err != nil {
		return w.err
	}
	sealed, err := w.stream.seal(w.buf[chunkLengthSize:chunkLengthSize+w.n], final)
	if err != nil {
		w.err = fmt.Errorf("backupfile: %w", err)
		return w.err
	}
	binary.BigEndian.PutUint32(w.buf[:chunkLengthSize], uint32(len(sealed)))
	if _, err := w.w.Write(w.buf[:chunkLengthSize+len(sealed)]); err != nil {
		w.err = fmt.Errorf("backupfile: write chunk %d: %w", w.stream.counter-1, err)
		return w.err
	}
	w.n = 0
	return nil
}
