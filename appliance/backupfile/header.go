package backupfile

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

const (
	magic = "KWBACKUP"
	// Version is the format version this package writes and the only one it
	// reads.
	Version = 1
	// KeySize is the size in bytes of the backup key the caller derives.
	KeySize = 32
	// KDFArgon2id is the only passphrase KDF version 1 knows.
	KDFArgon2id = "argon2id"

	prefixSize    = len(magic) + 2 + 4 // magic, version, JSON length
	maxHeaderJSON = 4096

	// Bounds on the KDF cost a header may ask for, so a garbage or hostile
	// file cannot make the caller run a huge derivation before anything is
	// authenticated.
	maxKDFTime      = 16
	minKDFMemoryKiB = 8
	maxKDFMemoryKiB = 4 << 20 // 4 GiB
	maxKDFThreads   = 16

	minSaltSize  = 16
	maxSaltSize  = 64
	fileIDSize   = 16
	keyCheckSize = 16

	infoPayload  = "keywarden backup v1 payload"
	infoKeyCheck = "keywarden backup v1 key check"
)

// KDF names the function that turns the backup passphrase into the backup
// key, with its cost. The package only records and bounds it; the caller runs
// it.
type KDF struct {
	Alg       string `json:"alg"`
	Time      uint32 `json:"time"`
	MemoryKiB uint32 `json:"memoryKiB"`
	Threads   uint8  `json:"threads"`
}

// Header is the plaintext start of a backup file: what the caller needs to
// derive the key (KDF, Salt) and to check it (FileID, KeyCheck).
type Header struct {
	KDF      KDF    `json:"kdf"`
	Salt     []byte `json:"salt"`
	FileID   []byte `json:"fileId"`
	KeyCheck []byte `json:"keyCheck"`
}

// validateKDF reports every problem with the derivation inputs at once.
func validateKDF(k KDF, salt []byte) []string {
	var problems []string
	if k.Alg != KDFArgon2id {
		problems = append(problems, fmt.Sprintf("kdf alg is %q, want %q", k.Alg, KDFArgon2id))
	}
	if k.Time < 1 || k.Time > maxKDFTime {
		problems = append(problems, fmt.Sprintf("kdf time is %d, want 1..%d", k.Time, maxKDFTime))
	}
	if k.Threads < 1 || k.Threads > maxKDFThreads {
		problems = append(problems, fmt.Sprintf("kdf threads is %d, want 1..%d", k.Threads, maxKDFThreads))
	}
	// Argon2 needs 8 KiB per lane.
	minMemory := max(minKDFMemoryKiB, 8*uint32(k.Threads))
	if k.MemoryKiB < minMemory || k.MemoryKiB > maxKDFMemoryKiB {
		problems = append(problems, fmt.Sprintf("kdf memoryKiB is %d, want %d..%d", k.MemoryKiB, minMemory, maxKDFMemoryKiB))
	}
	if len(salt) < minSaltSize || len(salt) > maxSaltSize {
		problems = append(problems, fmt.Sprintf("salt is %d bytes, want %d..%d", len(salt), minSaltSize, maxSaltSize))
	}
	return problems
}

// validate reports whether h is a header version 1 allows, naming every
// problem.
func (h Header) validate() error {
	problems := validateKDF(h.KDF, h.Salt)
	if len(h.FileID) != fileIDSize {
		problems = append(problems, fmt.Sprintf("fileId is %d bytes, want %d", len(h.FileID), fileIDSize))
	}
	if len(h.KeyCheck) != keyCheckSize {
		problems = append(problems, fmt.Sprintf("keyCheck is %d bytes, want %d", len(h.KeyCheck), keyCheckSize))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// encodeHeader returns the exact header bytes: magic, version, JSON length,
// JSON.
func encodeHeader(h Header) ([]byte, error) {
	js, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("encode header: %w", err)
	}
	if len(js) > maxHeaderJSON {
		return nil, fmt.Errorf("header is %d bytes of JSON, the limit is %d", len(js), maxHeaderJSON)
	}
	b := make([]byte, 0, prefixSize+len(js))
	b = append(b, magic...)
	b = binary.BigEndian.AppendUint16(b, Version)
	b = binary.BigEndian.AppendUint32(b, uint32(len(js)))
	return append(b, js...), nil
}

// readHeader reads and validates the header and returns it with its exact
// bytes, which every chunk authenticates.
func readHeader(r io.Reader) (Header, []byte, error) {
	prefix := make([]byte, prefixSize)
	n, err := io.ReadFull(r, prefix[:len(magic)])
	switch {
	case n == 0 && errors.Is(err, io.EOF):
		return Header{}, nil, fmt.Errorf("%w: the file is empty", ErrNotBackup)
	case err != nil && !errors.Is(err, io.ErrUnexpectedEOF):
		return Header{}, nil, fmt.Errorf("backupfile: read header: %w", err)
	case err != nil || string(prefix[:len(magic)]) != magic:
		return Header{}, nil, fmt.Errorf("%w: it does not start with %q", ErrNotBackup, magic)
	}
	if err := readFull(r, prefix[len(magic):], "the format version"); err != nil {
		return Header{}, nil, err
	}
	if v := binary.BigEndian.Uint16(prefix[len(magic):]); v != Version {
		return Header{}, nil, fmt.Errorf("%w %d: this software reads version %d", ErrVersion, v, Version)
	}
	size := binary.BigEndian.Uint32(prefix[len(magic)+2:])
	if size == 0 || size > maxHeaderJSON {
		return Header{}, nil, fmt.Errorf("%w: the header claims %d bytes of JSON, want 1..%d", ErrFormat, size, maxHeaderJSON)
	}
	raw := append(prefix, make([]byte, size)...)
	if err := readFull(r, raw[prefixSize:], "the header JSON"); err != nil {
		return Header{}, nil, err
	}
	h, err := parseHeaderJSON(raw[prefixSize:])
	if err != nil {
		return Header{}, nil, err
	}
	return h, raw, nil
}

// parseHeaderJSON accepts exactly one JSON object with only the known fields,
// within bounds.
func parseHeaderJSON(js []byte) (Header, error) {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	var h Header
	if err := dec.Decode(&h); err != nil {
		return Header{}, fmt.Errorf("%w: the header is not valid JSON: %w", ErrFormat, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Header{}, fmt.Errorf("%w: data follows the header's JSON object", ErrFormat)
	}
	if err := h.validate(); err != nil {
		return Header{}, fmt.Errorf("%w: header: %w", ErrFormat, err)
	}
	return h, nil
}

// readFull reads exactly len(p) bytes; running out of input means the file
// was cut short before or inside what it was reading.
func readFull(r io.Reader, p []byte, what string) error {
	_, err := io.ReadFull(r, p)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.EOF):
		return fmt.Errorf("%w (cut off before %s)", ErrTruncated, what)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w (cut off inside %s)", ErrTruncated, what)
	default:
		return fmt.Errorf("backupfile: read %s: %w", what, err)
	}
}

// deriveKeys returns the file's payload key and key check. Both depend on the
// random file ID, so backups under the same backup key never share a payload
// key and chunk nonces can be counters.
func deriveKeys(backupKey, fileID []byte) (payloadKey, check []byte, err error) {
	if len(backupKey) != KeySize {
		return nil, nil, fmt.Errorf("backupfile: the backup key is %d bytes, want %d", len(backupKey), KeySize)
	}
	payloadKey, err = hkdf.Key(sha256.New, backupKey, fileID, infoPayload, KeySize)
	if err != nil {
		return nil, nil, fmt.Errorf("backupfile: derive payload key: %w", err)
	}
	checkKey, err := hkdf.Key(sha256.New, backupKey, fileID, infoKeyCheck, KeySize)
	if err != nil {
		return nil, nil, fmt.Errorf("backupfile: derive key check: %w", err)
	}
	defer clear(checkKey)
	mac := hmac.New(sha256.New, checkKey)
	mac.Write([]byte("key check"))
	return payloadKey, mac.Sum(nil)[:keyCheckSize], nil
}
