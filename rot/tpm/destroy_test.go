package tpm_test

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/keywarden/keywarden/rot"
	"github.com/keywarden/keywarden/rot/tpm"
	"github.com/keywarden/keywarden/rot/tpm/tpmtest"
)

// TestDestroy is the factory reset: the storage key leaves the TPM, the
// state directory is emptied, old blobs are dead for good, and the device
// identity survives.
func TestDestroy(t *testing.T) {
	device, dir := tpmtest.Start(t), t.TempDir()
	if hs := tpmtest.DeviceHandles(t, device, tpm2.TPMHTPersistent); len(hs) != 0 {
		t.Fatalf("persistent handles of a fresh TPM: got %#x, want none", hs)
	}
	r := open(t, device, dir)
	id := r.DeviceID()
	blob := seal(t, r, []byte("sealed before the factory reset"))
	if err := r.Destroy(ctx(t)); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("Close after Destroy: got %v, want nil", err)
	}
	if hs := tpmtest.DeviceHandles(t, device, tpm2.TPMHTPersistent); len(hs) != 0 {
		t.Errorf("persistent handles after Destroy: got %#x, want none", hs)
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("state directory after Destroy: got %v, %v; want it empty", entries, err)
	}

	r = open(t, device, dir)
	if got := r.DeviceID(); got != id {
		t.Errorf("DeviceID after Destroy: got %s, want %s (the identity survives)", got, id)
	}
	got, err := r.Unseal(ctx(t), blob)
	if !errors.Is(err, rot.ErrWrongDevice) || !strings.Contains(err.Error(), "storage key") {
		t.Errorf("Unseal(blob sealed before Destroy): got %q, %v; want rot.ErrWrongDevice naming the storage key", got, err)
	}
}

// TestStorageKeyPersists checks a reopen uses the same persisted key, even
// when the state directory was lost.
func TestStorageKeyPersists(t *testing.T) {
	device := tpmtest.Start(t)
	r := open(t, device, t.TempDir())
	secret := []byte("survives a lost state directory")
	blob := seal(t, r, secret)
	r.Close()
	r = open(t, device, t.TempDir())
	if got := unseal(t, r, blob); !bytes.Equal(got, secret) {
		t.Errorf("Unseal with a fresh state directory: got %q, want %q", got, secret)
	}
	r.Close()
	hs := tpmtest.DeviceHandles(t, device, tpm2.TPMHTPersistent)
	if want := []tpm2.TPMHandle{tpm.DefaultStorageKeyHandle}; !slices.Equal(hs, want) {
		t.Errorf("persistent handles: got %#x, want %#x", hs, want)
	}
}

// TestForeignObjectAtHandle checks Open leaves alone an object it did not
// create and can be pointed at another handle.
func TestForeignObjectAtHandle(t *testing.T) {
	device := tpmtest.Start(t)
	tpmtest.With(t, device, func(tr transport.TPM) error {
		return persistSRK(tr, tpm.DefaultStorageKeyHandle)
	})
	_, err := tpm.Open(ctx(t), tpm.Config{Device: device, StateDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "not a Keywarden storage key") {
		t.Fatalf("Open with a foreign object at the handle: got %v, want an error saying so", err)
	}
	const other = tpm.DefaultStorageKeyHandle + 1
	r, err := tpm.Open(ctx(t), tpm.Config{Device: device, StateDir: t.TempDir(), StorageKeyHandle: other})
	if err != nil {
		t.Fatalf("Open with StorageKeyHandle %#x: %v", other, err)
	}
	if err := r.Destroy(ctx(t)); err != nil {
		t.Fatal(err)
	}
	hs := tpmtest.DeviceHandles(t, device, tpm2.TPMHTPersistent)
	if want := []tpm2.TPMHandle{tpm.DefaultStorageKeyHandle}; !slices.Equal(hs, want) {
		t.Errorf("persistent handles after Destroy: got %#x, want only the foreign %#x", hs, want)
	}
}

// persistSRK persists the standard SRK at h, as another program might.
func persistSRK(tr transport.TPM, h tpm2.TPMHandle) error {
	owner := tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)}
	srk, err := tpm2.CreatePrimary{PrimaryHandle: owner, InPublic: tpm2.New2B(tpm2.ECCSRKTemplate)}.Execute(tr)
	if err != nil {
		return err
	}
	defer tpm2.FlushContext{FlushHandle: srk.ObjectHandle}.Execute(tr)
	_, err = tpm2.EvictControl{
		Auth:             owner,
		ObjectHandle:     tpm2.NamedHandle{Handle: srk.ObjectHandle, Name: srk.Name},
		PersistentHandle: h,
	}.Execute(tr)
	return err
}
