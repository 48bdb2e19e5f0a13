package pkcs11

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// maxPINFile bounds what readPIN reads; PKCS#11 PINs are short.
const maxPINFile = 1024

// readPIN reads the PIN from path: the file's content without one trailing
// newline. The file must be a regular file that only its owner can access,
// like a systemd credential or a 0600 file. The caller wipes the result.
func readPIN(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("pkcs11 root of trust: PIN file: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("pkcs11 root of trust: PIN file: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("pkcs11 root of trust: PIN file %s is not a regular file", path)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("pkcs11 root of trust: PIN file %s has mode %04o, want 0600 or 0400", path, perm)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxPINFile+1))
	if err != nil {
		return nil, fmt.Errorf("pkcs11 root of trust: read PIN file: %w", err)
	}
	if len(data) > maxPINFile {
		clear(data)
		return nil, fmt.Errorf("pkcs11 root of trust: PIN file %s is larger than %d bytes", path, maxPINFile)
	}
	pin := bytes.TrimSuffix(bytes.TrimSuffix(data, []byte("\n")), []byte("\r"))
	if len(pin) == 0 {
		return nil, errors.New("pkcs11 root of trust: PIN file " + path + " is empty")
	}
	return pin, nil
}
