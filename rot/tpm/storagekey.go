package tpm

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// DefaultStorageKeyHandle is where the storage key is persisted unless
// Config.StorageKeyHandle says otherwise: in the owner's range, away from the
// handles the TCG registry suggests for the SRK (0x81000001) and EK
// (0x81010001). 0x4B57 is "KW".
const DefaultStorageKeyHandle = 0x81004B57

// The persistent handles the owner hierarchy may use.
const (
	ownerPersistentFirst = 0x81000000
	ownerPersistentLast  = 0x817FFFFF
)

// storageMarker is the storage key's authPolicy. No policy session can reach
// this digest, so it grants nothing (the key is used with its empty auth
// value); it lets Open recognise a storage key Keywarden created at the
// handle even when the state directory was lost.
var storageMarker = sha256.Sum256([]byte("keywarden storage key v1"))

// storageTemplate is the storage key: an ECC P-256 restricted decryption key,
// the parent of every sealed object and the key that salts their sessions.
// Unlike the SRK, a primary key re-derivable from the owner seed at will, it
// is created from the TPM's random number generator and only ever exists in
// the TPM's NV memory: evicting it (Destroy) makes every blob sealed under it
// unrecoverable, even from a copy of the disk.
func storageTemplate() tpm2.TPMTPublic {
	t := tpm2.ECCSRKTemplate
	t.AuthPolicy = tpm2.TPM2BDigest{Buffer: storageMarker[:]}
	t.Unique = tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{})
	return t
}

// storageKey is the persisted storage key.
type storageKey struct {
	handle tpm2.TPMHandle
	name   tpm2.TPM2BName
	public tpm2.TPMTPublic
}

// id names the storage key in blob headers.
func (k storageKey) id() [idSize]byte { return sha256.Sum256(k.name.Buffer) }

// auth authorizes the storage key's empty auth value with sess.
func (k storageKey) auth(sess tpm2.Session) tpm2.AuthHandle {
	return tpm2.AuthHandle{Handle: k.handle, Name: k.name, Auth: sess}
}

// sealSession returns the options of a session that carries a secret into
// the TPM: its key is salted with the storage key (so only this TPM can
// derive it) and it encrypts the command's first parameter, so the secret
// never crosses the bus in clear.
func (k storageKey) sealSession() []tpm2.AuthOption {
	return []tpm2.AuthOption{tpm2.Salted(k.handle, k.public), tpm2.AESEncryption(128, tpm2.EncryptIn)}
}

// unsealSession is like sealSession for a secret coming out of the TPM.
func (k storageKey) unsealSession() []tpm2.AuthOption {
	return []tpm2.AuthOption{tpm2.Salted(k.handle, k.public), tpm2.AESEncryption(128, tpm2.EncryptOut)}
}

// errForeignObject means the storage key handle holds an object Keywarden
// did not create.
var errForeignObject = errors.New("holds an object that is not a Keywarden storage key")

// findStorageKey reads the object at handle. It returns found=false when the
// handle is empty, and errForeignObject when it holds something else.
func findStorageKey(tr transport.TPM, handle tpm2.TPMHandle) (storageKey, bool, error) {
	rsp, err := tpm2.ReadPublic{ObjectHandle: handle}.Execute(tr)
	if errors.Is(err, tpm2.TPMRCHandle) {
		return storageKey{}, false, nil
	}
	if err != nil {
		return storageKey{}, false, fmt.Errorf("read storage key %#x: %w", uint32(handle), err)
	}
	pub, err := rsp.OutPublic.Contents()
	if err != nil {
		return storageKey{}, false, fmt.Errorf("storage key %#x public area: %w", uint32(handle), err)
	}
	// fixedTPM, which the template requires, also proves the TPM generated
	// the key: imported keys cannot have it.
	if !bytes.Equal(tpm2.Marshal(withoutUnique(*pub)), tpm2.Marshal(storageTemplate())) {
		return storageKey{}, false, fmt.Errorf("handle %#x %w", uint32(handle), errForeignObject)
	}
	return storageKey{handle: handle, name: rsp.Name, public: *pub}, true, nil
}

// createStorageKey creates the storage key under a transient SRK and
// persists it at handle. Its private part, wrapped by the SRK, is dropped:
// the persisted copy is the only one.
func createStorageKey(tr transport.TPM, handle tpm2.TPMHandle) (k storageKey, err error) {
	srk, err := tpm2.CreatePrimary{
		PrimaryHandle: tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)},
		InPublic:      tpm2.New2B(tpm2.ECCSRKTemplate),
	}.Execute(tr)
	if err != nil {
		return k, fmt.Errorf("create SRK: %w", err)
	}
	defer func() { err = errors.Join(err, flush(tr, srk.ObjectHandle)) }()
	parent := tpm2.AuthHandle{Handle: srk.ObjectHandle, Name: srk.Name, Auth: tpm2.PasswordAuth(nil)}
	created, err := tpm2.Create{ParentHandle: parent, InPublic: tpm2.New2B(storageTemplate())}.Execute(tr)
	if err != nil {
		return k, fmt.Errorf("create storage key: %w", err)
	}
	loaded, err := tpm2.Load{ParentHandle: parent, InPrivate: created.OutPrivate, InPublic: created.OutPublic}.Execute(tr)
	if err != nil {
		return k, fmt.Errorf("load storage key: %w", err)
	}
	defer func() { err = errors.Join(err, flush(tr, loaded.ObjectHandle)) }()
	_, err = tpm2.EvictControl{
		Auth:             tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)},
		ObjectHandle:     tpm2.NamedHandle{Handle: loaded.ObjectHandle, Name: loaded.Name},
		PersistentHandle: handle,
	}.Execute(tr)
	if err != nil {
		return k, fmt.Errorf("persist storage key at %#x: %w", uint32(handle), err)
	}
	k, found, err := findStorageKey(tr, handle)
	if err == nil && (!found || !bytes.Equal(k.name.Buffer, loaded.Name.Buffer)) {
		err = fmt.Errorf("storage key at %#x is not the one just persisted", uint32(handle))
	}
	return k, err
}

// evict removes the storage key from the TPM's NV memory, if it is still there.
func (k storageKey) evict(tr transport.TPM) error {
	current, found, err := findStorageKey(tr, k.handle)
	if err != nil || !found {
		return err
	}
	if !bytes.Equal(current.name.Buffer, k.name.Buffer) {
		return fmt.Errorf("storage key at %#x was replaced since Open; not evicting it", uint32(k.handle))
	}
	_, err = tpm2.EvictControl{
		Auth:             tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)},
		ObjectHandle:     tpm2.NamedHandle{Handle: k.handle, Name: k.name},
		PersistentHandle: k.handle,
	}.Execute(tr)
	if err != nil {
		return fmt.Errorf("evict storage key %#x: %w", uint32(k.handle), err)
	}
	return nil
}
