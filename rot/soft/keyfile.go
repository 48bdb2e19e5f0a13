package soft

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// ErrInsecureFile means the key file can be read or written by users other
// than its owner; Open refuses it rather than trust keys others could have
// copied or replaced.
var ErrInsecureFile = errors.New("soft root of trust: key file accessible by group or others")

const (
	sealKeyBlock  = "KEYWARDEN SOFT SEALING KEY"
	identityBlock = "PRIVATE KEY" // PKCS #8
	sealKeySize   = 32
	maxKeyFile    = 64 << 10 // far above a real key file; bounds a bad path
)

// keys is the content of the key file.
type keys struct {
	sealKey  []byte
	identity *ecdsa.PrivateKey
}

// loadOrCreate reads the key file at path, creating it first if it is missing.
func loadOrCreate(path string) (keys, bool, error) {
	k, err := load(path)
	if !errors.Is(err, os.ErrNotExist) {
		return k, false, err
	}
	if err := create(path); err != nil {
		return keys{}, false, err
	}
	k, err = load(path)
	return k, true, err
}

// load reads and parses the key file after checking its permissions on the
// opened descriptor, so the file checked is the file read.
func load(path string) (keys, error) {
	f, err := os.Open(path)
	if err != nil {
		return keys{}, fmt.Errorf("soft root of trust: open key file: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return keys{}, fmt.Errorf("soft root of trust: stat key file: %w", err)
	}
	if !info.Mode().IsRegular() {
		return keys{}, fmt.Errorf("soft root of trust: key file %s is not a regular file", path)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return keys{}, fmt.Errorf("%w: %s has mode %04o, want 0600 (chmod 600 it)", ErrInsecureFile, path, perm)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return keys{}, fmt.Errorf("soft root of trust: read key file: %w", err)
	}
	k, err := parse(data)
	if err != nil {
		return keys{}, fmt.Errorf("soft root of trust: parse key file %s: %w", path, err)
	}
	return k, nil
}

// parse decodes exactly one sealing-key block followed by one identity block.
func parse(data []byte) (keys, error) {
	if len(data) > maxKeyFile {
		return keys{}, errors.New("file too large")
	}
	seal, rest := pem.Decode(data)
	if seal == nil || seal.Type != sealKeyBlock || len(seal.Bytes) != sealKeySize {
		return keys{}, fmt.Errorf("want a %q block of %d bytes first", sealKeyBlock, sealKeySize)
	}
	id, rest := pem.Decode(rest)
	if id == nil || id.Type != identityBlock {
		return keys{}, fmt.Errorf("want a %q block second", identityBlock)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return keys{}, errors.New("unexpected data after the identity key")
	}
	key, err := parseIdentity(id.Bytes)
	if err != nil {
		return keys{}, err
	}
	return keys{sealKey: seal.Bytes, identity: key}, nil
}

func parseIdentity(der []byte) (*ecdsa.PrivateKey, error) {
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("identity key: %w", err)
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, fmt.Errorf("identity key is %T, want an ECDSA P-256 key", key)
	}
	return ec, nil
}

// create writes fresh keys to a temporary file in the same directory and
// links it into place, so a crash never leaves a half-written key file and
// two concurrent creators cannot overwrite each other (link fails if path
// exists; the loser then reads the winner's file).
func create(path string) error {
	data, err := generate()
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".soft-rot-*") // mode 0600
	if err != nil {
		return fmt.Errorf("soft root of trust: create key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := writeSync(tmp, data); err != nil {
		return fmt.Errorf("soft root of trust: write key file: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("soft root of trust: create key file: %w", err)
	}
	return syncDir(dir)
}

// generate returns the PEM encoding of a new sealing key and identity key.
func generate() ([]byte, error) {
	sealKey := make([]byte, sealKeySize)
	if _, err := rand.Read(sealKey); err != nil {
		return nil, fmt.Errorf("soft root of trust: generate sealing key: %w", err)
	}
	id, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("soft root of trust: generate identity key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(id)
	if err != nil {
		return nil, fmt.Errorf("soft root of trust: marshal identity key: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: sealKeyBlock, Bytes: sealKey})
	return append(data, pem.EncodeToMemory(&pem.Block{Type: identityBlock, Bytes: der})...), nil
}

func writeSync(f *os.File, data []byte) error {
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncDir makes the new directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("soft root of trust: sync key directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("soft root of trust: sync key directory: %w", err)
	}
	return nil
}
