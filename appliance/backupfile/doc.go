// Package backupfile reads and writes Keywarden backup files: a stream of
// store entries (key path and opaque value bytes) encrypted and authenticated
// under a key the caller derives from the backup passphrase.
//
// The file is a plaintext header followed by AES-256-GCM chunks of at most
// ChunkSize bytes of plaintext each. Every chunk is bound to the exact header
// bytes, to its position, and to whether it is the last one, so that any
// modification, reordering, truncation or appended data is detected. Both the
// Writer and the Reader use constant-size buffers, so memory does not grow
// with the number of entries. docs/backup-format.md specifies the format.
//
// The package does not run the passphrase KDF: ReadHeader returns the KDF
// parameters and salt (bounded, so a hostile file cannot demand a huge
// derivation), the caller derives the key, and Opener.Open checks it.
//
// A Reader returns each entry as soon as the chunks holding it have been
// authenticated, before the rest of the file has been read. Only when Next
// returns io.EOF is the file known to be complete and unmodified, so a restore
// must stage what it reads and commit it only after io.EOF.
package backupfile
