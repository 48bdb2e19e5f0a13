package backupfile

import "io"

// NewWriterWithFileID is NewWriter with a chosen file ID, so that tests can
// re-encode a file byte for byte.
var NewWriterWithFileID = newWriter

// StartWriter writes only the header, so that tests can write authentic
// plaintext streams and chunk sequences the Writer's API never produces.
func StartWriter(w io.Writer, key []byte, kdf KDF, salt, fileID []byte) (*Writer, error) {
	return startWriter(w, key, kdf, salt, fileID)
}

// WritePlain appends raw plaintext to the record stream.
func (w *Writer) WritePlain(p []byte) error { return writePlain(w, p) }

// SealChunk seals the buffered plaintext as the next chunk.
func (w *Writer) SealChunk(final bool) error { return w.sealChunk(final) }

// SetChunkCounter sets the index of the next chunk.
func (w *Writer) SetChunkCounter(n uint64) { w.stream.counter = n }
