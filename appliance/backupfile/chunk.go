package backupfile

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

const (
	// ChunkSize is the plaintext size of every chunk but the last, which
	// holds 0..ChunkSize bytes. It bounds the memory a Writer or Reader uses.
	ChunkSize = 64 << 10

	tagSize         = 16
	maxSealedChunk  = ChunkSize + tagSize
	chunkLengthSize = 4
)

// errTooManyChunks guards the nonce counter; 2^64 chunks cannot be written
// in practice, but a counter must never wrap.
var errTooManyChunks = errors.New("the backup has more chunks than the format can number")

// stream seals or opens the chunks of one file in order (the STREAM
// construction): the nonce is the chunk's index and a final flag, and the
// associated data is the hash of the header bytes.
type stream struct {
	aead    cipher.AEAD
	ad      [sha256.Size]byte
	nonce   [12]byte
	counter uint64 // index of the next chunk
}

// newStream returns the stream of the file whose exact header bytes are
// rawHeader, under its payload key.
func newStream(payloadKey, rawHeader []byte) (*stream, error) {
	block, err := aes.NewCipher(payloadKey)
	if err != nil {
		return nil, fmt.Errorf("backupfile: payload cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("backupfile: payload cipher: %w", err)
	}
	return &stream{aead: aead, ad: sha256.Sum256(rawHeader)}, nil
}

// nextNonce returns the nonce of the next chunk: 8-byte big-endian index,
// final flag, 3 zero bytes.
func (s *stream) nextNonce(final bool) ([]byte, error) {
	if s.counter == math.MaxUint64 {
		return nil, errTooManyChunks
	}
	binary.BigEndian.PutUint64(s.nonce[:8], s.counter)
	s.nonce[8] = 0
	if final {
		s.nonce[8] = 1
	}
	return s.nonce[:], nil
}

// seal encrypts plain in place as the next chunk; plain must have tagSize
// bytes of spare capacity.
func (s *stream) seal(plain []byte, final bool) ([]byte, error) {
	nonce, err := s.nextNonce(final)
	if err != nil {
		return nil, err
	}
	s.counter++
	return s.aead.Seal(plain[:0], nonce, plain, s.ad[:]), nil
}

// open authenticates sealed as the next chunk, into dst. It tries the chunk
// as a middle chunk, then as the final one; if neither opens, the chunk was
// altered, moved, or sealed for another file.
func (s *stream) open(dst, sealed []byte) (plain []byte, final bool, err error) {
	for _, final := range []bool{false, true} {
		nonce, err := s.nextNonce(final)
		if err != nil {
			return nil, false, fmt.Errorf("%w: %w", ErrFormat, err)
		}
		if plain, err := s.aead.Open(dst[:0], nonce, sealed, s.ad[:]); err == nil {
			s.counter++
			return plain, final, nil
		}
	}
	return nil, false, fmt.Errorf("%w: chunk %d failed authentication", ErrTampered, s.counter)
}

// readChunk reads the next sealed chunk from r into buf and opens it into
// dst. When it is the final chunk, it also checks that nothing follows.
func (s *stream) readChunk(r io.Reader, buf, dst []byte) (plain []byte, final bool, err error) {
	index := s.counter
	var length [chunkLengthSize]byte
	what := fmt.Sprintf("chunk %d", index)
	if err := readFull(r, length[:], what); err != nil {
		return nil, false, err
	}
	n := binary.BigEndian.Uint32(length[:])
	if n < tagSize || n > maxSealedChunk {
		return nil, false, fmt.Errorf("%w: chunk %d claims an impossible length of %d bytes", ErrTampered, index, n)
	}
	sealed := buf[:n]
	if err := readFull(r, sealed, what); err != nil {
		return nil, false, err
	}
	plain, final, err = s.open(dst, sealed)
	if err != nil {
		return nil, false, err
	}
	if !final && len(plain) != ChunkSize {
		return nil, false, fmt.Errorf("%w: chunk %d is short (%d bytes) but not the last", ErrFormat, index, len(plain))
	}
	if final {
		if err := expectEOF(r); err != nil {
			return nil, false, err
		}
	}
	return plain, final, nil
}

// expectEOF reports data after the final chunk: a file with anything appended
// is not the file that was written.
func expectEOF(r io.Reader) error {
	var one [1]byte
	n, err := io.ReadFull(r, one[:])
	switch {
	case n > 0:
		return fmt.Errorf("%w: trailing data after the last chunk", ErrTampered)
	case errors.Is(err, io.EOF):
		return nil
	default:
		return fmt.Errorf("backupfile: read after the last chunk: %w", err)
	}
}
