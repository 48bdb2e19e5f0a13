package backupfile

import (
	"bytes"
	"crypto/subtle"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Opener is a backup whose header has been read and validated, waiting for
// the key.
type Opener struct {
	header Header
	raw    []byte // the exact header bytes, authenticated by every chunk
	r      io.Reader
	opened bool
}

// ReadHeader reads and validates the header of the backup in r, leaving r
// positioned at the first chunk. The header is not authenticated yet: it is
// only bounded, so that the KDF it asks for stays affordable. Errors wrap
// ErrNotBackup, ErrVersion, ErrFormat or ErrTruncated.
func ReadHeader(r io.Reader) (*Opener, error) {
	h, raw, err := readHeader(r)
	if err != nil {
		return nil, err
	}
	return &Opener{header: h, raw: raw, r: r}, nil
}

// Header returns a copy of the header: the KDF and salt to derive the key
// with.
func (o *Opener) Header() Header {
	h := o.header
	h.Salt = bytes.Clone(h.Salt)
	h.FileID = bytes.Clone(h.FileID)
	h.KeyCheck = bytes.Clone(h.KeyCheck)
	return h
}

// Open checks key against the header's key check and, when it matches, reads
// the metadata record. It returns ErrWrongKey, before decrypting anything,
// when the key does not match; Open may then be called again with another
// key. Otherwise errors wrap ErrTampered, ErrTruncated or ErrFormat.
func (o *Opener) Open(key []byte) (*Reader, error) {
	if o.opened {
		return nil, errors.New("backupfile: the backup is already open")
	}
	payloadKey, check, err := deriveKeys(key, o.header.FileID)
	if err != nil {
		return nil, err
	}
	defer clear(payloadKey)
	if subtle.ConstantTimeCompare(check, o.header.KeyCheck) != 1 {
		return nil, ErrWrongKey
	}
	s, err := newStream(payloadKey, o.raw)
	if err != nil {
		return nil, err
	}
	o.opened = true
	r := &Reader{
		src:    o.r,
		stream: s,
		sealed: make([]byte, maxSealedChunk),
		opened: make([]byte, ChunkSize),
	}
	if err := r.readMeta(); err != nil {
		return nil, r.fail(err)
	}
	return r, nil
}

// Reader returns the entries of a backup in the order they were written.
// Each entry comes from authenticated chunks, but the file as a whole is
// known to be complete and unmodified only once Next returns io.EOF.
type Reader struct {
	src     io.Reader
	stream  *stream
	sealed  []byte // the chunk being read
	opened  []byte // its plaintext
	plain   []byte // the unread part of opened
	final   bool   // the final chunk is in opened, and nothing follows it
	keyBuf  [MaxKeyLen]byte
	meta    []byte
	entries int
	err     error // the first error, or io.EOF after the end record
}

// Meta returns the metadata JSON the writer supplied.
func (r *Reader) Meta() []byte { return r.meta }

// Next returns the next entry. It returns io.EOF only after the end record
// has matched the number of entries and the final chunk has been
// authenticated with nothing after it. Other errors wrap ErrTampered,
// ErrTruncated or ErrFormat, or are read errors of the underlying reader;
// every later call returns the same error.
func (r *Reader) Next() (key string, value []byte, err error) {
	if r.err != nil {
		return "", nil, r.err
	}
	key, value, err = r.next()
	if err != nil {
		return "", nil, r.fail(err)
	}
	r.entries++
	return key, value, nil
}

// fail records the reader's final state and drops the plaintext it holds.
func (r *Reader) fail(err error) error {
	r.err = err
	clear(r.opened)
	r.plain = nil
	return err
}

func (r *Reader) readMeta() error {
	kind, err := r.readByte()
	if err != nil {
		return inRecord(err, "the metadata record")
	}
	if kind != kindMeta {
		return fmt.Errorf("%w: the first record is of kind %d, want the metadata record", ErrFormat, kind)
	}
	key, meta, err := r.readKeyValue(len(metaKey), MaxValueLen)
	if err != nil {
		return inRecord(err, "the metadata record")
	}
	if key != metaKey || !json.Valid(meta) {
		return fmt.Errorf("%w: the metadata record is not JSON under the key %q", ErrFormat, metaKey)
	}
	r.meta = meta
	return nil
}

func (r *Reader) next() (string, []byte, error) {
	kind, err := r.readByte()
	if errors.Is(err, io.EOF) {
		return "", nil, fmt.Errorf("%w: the records end without an end record", ErrFormat)
	}
	if err != nil {
		return "", nil, err
	}
	switch kind {
	case kindEntry:
		key, value, err := r.readKeyValue(MaxKeyLen, MaxValueLen)
		if err != nil {
			return "", nil, inRecord(err, fmt.Sprintf("entry %d", r.entries))
		}
		if key == "" {
			return "", nil, fmt.Errorf("%w: entry %d has an empty key", ErrFormat, r.entries)
		}
		return key, value, nil
	case kindEnd:
		return "", nil, r.readEnd()
	case kindMeta:
		return "", nil, fmt.Errorf("%w: a second metadata record after entry %d", ErrFormat, r.entries)
	default:
		return "", nil, fmt.Errorf("%w: unknown record kind %d after entry %d", ErrFormat, kind, r.entries)
	}
}

// readEnd checks the end record against the entries read and that it is the
// last thing in the file; it returns io.EOF when all is well.
func (r *Reader) readEnd() error {
	key, value, err := r.readKeyValue(0, binary.MaxVarintLen64)
	if err != nil {
		return inRecord(err, "the end record")
	}
	want := binary.AppendUvarint(nil, uint64(r.entries))
	if key != "" || !bytes.Equal(value, want) {
		return fmt.Errorf("%w: the end record does not match the %d entries read", ErrFormat, r.entries)
	}
	_, err = r.readByte()
	switch {
	case errors.Is(err, io.EOF):
		return io.EOF
	case err != nil:
		return err
	default:
		return fmt.Errorf("%w: records follow the end record", ErrFormat)
	}
}

// readKeyValue reads the length-prefixed key and value of a record.
func (r *Reader) readKeyValue(maxKey, maxValue int) (string, []byte, error) {
	keyLen, err := r.readUvarint()
	if err != nil {
		return "", nil, err
	}
	if keyLen > uint64(maxKey) {
		return "", nil, fmt.Errorf("%w: a key of %d bytes, the limit is %d", ErrFormat, keyLen, maxKey)
	}
	keyBytes := r.keyBuf[:keyLen]
	if err := r.readPlain(keyBytes); err != nil {
		return "", nil, err
	}
	valueLen, err := r.readUvarint()
	if err != nil {
		return "", nil, err
	}
	if valueLen > uint64(maxValue) {
		return "", nil, fmt.Errorf("%w: a value of %d bytes, the limit is %d", ErrFormat, valueLen, maxValue)
	}
	value := make([]byte, valueLen)
	if err := r.readPlain(value); err != nil {
		return "", nil, err
	}
	return string(keyBytes), value, nil
}

// readUvarint reads an unsigned varint in its shortest encoding, so that
// every record has exactly one encoding.
func (r *Reader) readUvarint() (uint64, error) {
	var x uint64
	for i := range binary.MaxVarintLen64 {
		b, err := r.readByte()
		if err != nil {
			return 0, err
		}
		if i == binary.MaxVarintLen64-1 && b > 1 {
			break
		}
		x |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			if b == 0 && i > 0 {
				return 0, fmt.Errorf("%w: a length is not in its shortest encoding", ErrFormat)
			}
			return x, nil
		}
	}
	return 0, fmt.Errorf("%w: a length overflows 64 bits", ErrFormat)
}

// inRecord reports the plaintext ending inside a record: the authenticated
// stream is malformed.
func inRecord(err error, what string) error {
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: %s is cut short", ErrFormat, what)
	}
	return err
}

func (r *Reader) readByte() (byte, error) {
	if err := r.fill(); err != nil {
		return 0, err
	}
	b := r.plain[0]
	r.plain = r.plain[1:]
	return b, nil
}

// readPlain fills p from the plaintext stream, across chunks.
func (r *Reader) readPlain(p []byte) error {
	for len(p) > 0 {
		if err := r.fill(); err != nil {
			return err
		}
		n := copy(p, r.plain)
		r.plain = r.plain[n:]
		p = p[n:]
	}
	return nil
}

// fill makes plaintext available, opening chunks as needed. It returns
// io.EOF only at the end of the authenticated final chunk.
func (r *Reader) fill() error {
	for len(r.plain) == 0 {
		if r.final {
			return io.EOF
		}
		plain, final, err := r.stream.readChunk(r.src, r.sealed, r.opened)
		if err != nil {
			return err
		}
		r.plain, r.final = plain, final
	}
	return nil
}

// Verify reads the backup in r to the end and reports its metadata and
// number of entries. key derives the backup key from the header (the caller
// runs the KDF). A nil error means the whole file is authentic and complete.
func Verify(r io.Reader, key func(Header) ([]byte, error)) (meta []byte, entries int, err error) {
	o, err := ReadHeader(r)
	if err != nil {
		return nil, 0, err
	}
	k, err := key(o.Header())
	if err != nil {
		return nil, 0, fmt.Errorf("backupfile: derive the backup key: %w", err)
	}
	br, err := o.Open(k)
	if err != nil {
		return nil, 0, err
	}
	for {
		if _, _, err := br.Next(); errors.Is(err, io.EOF) {
			return br.Meta(), br.entries, nil
		} else if err != nil {
			return nil, 0, err
		}
	}
}
