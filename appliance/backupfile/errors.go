package backupfile

import "errors"

// The errors a Reader reports about a backup file. Each is wrapped with the
// detail of what was wrong; test for them with errors.Is.
var (
	// ErrNotBackup means the input is empty or does not start with the
	// backup magic: it is some other file.
	ErrNotBackup = errors.New("backupfile: not a Keywarden backup file")
	// ErrVersion means the file is a backup in a format version this
	// software does not read (typically written by newer software).
	ErrVersion = errors.New("backupfile: unsupported backup format version")
	// ErrFormat means the file breaks the format's rules: a header field out
	// of bounds, or an authenticated record stream that is malformed.
	ErrFormat = errors.New("backupfile: malformed backup file")
	// ErrWrongKey means the key does not match the file's key check: the
	// backup passphrase is wrong (or the header's file ID was altered).
	ErrWrongKey = errors.New("backupfile: wrong backup passphrase: the derived key does not match this backup file")
	// ErrTampered means part of the file failed authentication, chunks are
	// out of order, or data follows the last chunk.
	ErrTampered = errors.New("backupfile: the backup file was modified or corrupted")
	// ErrTruncated means the input ended before the last chunk.
	ErrTruncated = errors.New("backupfile: the backup file is truncated: it ends before its last chunk")
)
