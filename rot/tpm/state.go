package tpm

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// stateFile records, in the state directory, what Open persisted in the TPM.
// It holds nothing secret (the sealed objects are in the blobs the caller
// stores); it lets Open notice that the TPM's storage key changed since the
// last run and Destroy remove what this package created.
const stateFile = "tpm-state.json"

// stateVersion is the format of stateFile.
const stateVersion = 1

// record is the content of stateFile.
type record struct {
	Version          int    `json:"version"`
	DeviceID         string `json:"deviceId"`
	StorageKeyHandle uint32 `json:"storageKeyHandle"`
	StorageKeyName   string `json:"storageKeyName"` // hex TPM name
}

func newRecord(deviceID string, k storageKey) record {
	return record{
		Version:          stateVersion,
		DeviceID:         deviceID,
		StorageKeyHandle: uint32(k.handle),
		StorageKeyName:   hex.EncodeToString(k.name.Buffer),
	}
}

// prepareStateDir creates dir with mode 0700 if it does not exist. An
// existing directory is used as it is: the record is not secret, and Open
// trusts a storage key only after checking its attributes in the TPM.
func prepareStateDir(dir string) error {
	if dir == "" {
		return errors.New("tpm: Config.StateDir is required")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("tpm: create state directory: %w", err)
	}
	return nil
}

// readRecord returns the record in dir; found is false if there is none.
func readRecord(dir string) (r record, found bool, err error) {
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return record{}, false, nil
	}
	if err != nil {
		return record{}, false, fmt.Errorf("tpm: read state: %w", err)
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return record{}, false, fmt.Errorf("tpm: parse state file %s: %w", filepath.Join(dir, stateFile), err)
	}
	if r.Version != stateVersion {
		return record{}, false, fmt.Errorf("tpm: state file version %d, want %d", r.Version, stateVersion)
	}
	return r, true, nil
}

// writeRecord replaces the record in dir atomically (temporary file, fsync,
// rename, fsync of the directory), so a crash leaves the old or the new one.
func writeRecord(dir string, r record) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("tpm: encode state: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".tpm-state-*") // mode 0600
	if err != nil {
		return fmt.Errorf("tpm: write state: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(append(data, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, stateFile))
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("tpm: write state: %w", err)
	}
	return nil
}

// removeRecord deletes the record; a missing one is not an error.
func removeRecord(dir string) error {
	if err := os.Remove(filepath.Join(dir, stateFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("tpm: remove state: %w", err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
