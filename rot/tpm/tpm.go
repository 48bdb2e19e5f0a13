// Package tpm is the TPM 2.0 root of trust. It seals secrets to the TPM and
// to the platform state measured in a set of PCRs, and provides a device
// identity key that never leaves the TPM.
//
// What lives where:
//   - The identity key is an ECC P-256 signing key derived from the owner
//     hierarchy's seed (a primary key), recreated for each signature. It is
//     the same key on every boot until the TPM's owner hierarchy is cleared;
//     the SHA-256 of its TPM name is the device id. A factory reset (Destroy)
//     keeps it, as it keeps a factory-issued device certificate valid.
//   - The storage key is an ECC P-256 storage key created from the TPM's RNG
//     under the standard SRK and persisted at Config.StorageKeyHandle. It is
//     the parent of every sealed object and salts the sessions that carry
//     secrets. Destroy evicts it, which makes every blob sealed before
//     unrecoverable even from a copy of the disk.
//   - A sealed blob is a header plus the public and private parts of a sealed
//     data object (fixedTPM|fixedParent, no user auth, authPolicy =
//     PolicyPCR over the configured SHA-256 PCRs). The caller stores it.
//   - The state directory holds a record of the storage key and device id,
//     nothing secret.
//
// No call leaves a transient object or session loaded in the TPM when it
// returns. The owner hierarchy's auth value must be empty, as the TCG
// provisioning guidance expects.
package tpm

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/keywarden/keywarden/rot"
)

// opTimeout bounds a call whose context has no earlier deadline, so that a
// TPM held by another client (simulators serve one connection at a time) or
// a wedged device fails the call instead of hanging it.
const opTimeout = 30 * time.Second

// maxRandom bounds one Random call; the TPM returns at most 64 bytes per
// command, and the appliance asks for key-sized amounts.
const maxRandom = 64 << 10

// Config says which TPM to open and how to seal.
type Config struct {
	// Device is a TPM character device ("/dev/tpmrm0", the default),
	// "tcp:HOST:PORT" or "unix:PATH" (see Dial).
	Device string
	// PCRs are the SHA-256 PCR indices (0-23) a sealed secret is bound to;
	// empty means DefaultPCRs. Changing them affects new seals only: a blob
	// keeps the PCR list it was sealed with.
	PCRs []int
	// StateDir is where the state record is kept (created with mode 0700 if
	// missing). Required.
	StateDir string
	// StorageKeyHandle is the persistent handle of the storage key; zero
	// means DefaultStorageKeyHandle.
	StorageKeyHandle uint32
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
}

// TPM is a root of trust backed by a TPM 2.0. It is safe for concurrent use;
// calls are serialized because a TPM runs one command at a time.
type TPM struct {
	device   string
	pcrs     []int
	stateDir string
	logger   *slog.Logger

	mu       sync.Mutex // guards everything below and the TPM connection
	tr       *conn
	closed   bool
	lost     error // the connection failed mid-exchange; set once
	vendor   string
	identity identityKey
	deviceID [idSize]byte
	storage  storageKey
}

var (
	_ rot.RootOfTrust = (*TPM)(nil)
	_ rot.Describer   = (*TPM)(nil)
	_ rot.Destroyer   = (*TPM)(nil)
	_ rot.Random      = (*TPM)(nil)
	_ rot.Attester    = (*TPM)(nil)
)

// Open connects to the TPM, derives the identity key, and finds the storage
// key at its handle or, on first use (or after Destroy), creates and
// persists it. A device that is missing, unreachable or refuses these steps
// gives an error wrapping rot.ErrUnavailable that names it. ctx bounds Open
// only.
func Open(ctx context.Context, cfg Config) (*TPM, error) {
	t, err := newTPM(cfg)
	if err != nil {
		return nil, err
	}
	if t.tr, err = dialConn(ctx, t.device); err != nil {
		return nil, err
	}
	created, err := t.start(ctx, tpm2.TPMHandle(cfg.StorageKeyHandle))
	if err == nil {
		err = t.reconcile(created)
	}
	if err != nil {
		t.tr.Close()
		return nil, err
	}
	t.logger.Info("tpm root of trust opened", "device", t.device, "vendor", t.vendor,
		"deviceId", t.DeviceID(), "pcrs", t.pcrs, "storageKeyHandle", fmt.Sprintf("%#x", uint32(t.storage.handle)),
		"storageKeyCreated", created)
	return t, nil
}

// newTPM validates cfg and prepares the state directory.
func newTPM(cfg Config) (*TPM, error) {
	pcrs, err := checkPCRs(cfg.PCRs)
	if err != nil {
		return nil, err
	}
	if h := cfg.StorageKeyHandle; h != 0 && (h < ownerPersistentFirst || h > ownerPersistentLast) {
		return nil, fmt.Errorf("tpm: storage key handle %#x is not an owner persistent handle (%#x-%#x)",
			h, ownerPersistentFirst, ownerPersistentLast)
	}
	if err := prepareStateDir(cfg.StateDir); err != nil {
		return nil, err
	}
	t := &TPM{device: cfg.Device, pcrs: pcrs, stateDir: cfg.StateDir, logger: cfg.Logger}
	if t.device == "" {
		t.device = DefaultDevice
	}
	if t.logger == nil {
		t.logger = slog.New(slog.DiscardHandler)
	}
	return t, nil
}

// start learns what Open needs from the TPM; an error wraps rot.ErrUnavailable.
func (t *TPM) start(ctx context.Context, handle tpm2.TPMHandle) (created bool, err error) {
	if handle == 0 {
		handle = DefaultStorageKeyHandle
	}
	err = t.do(ctx, func(tr transport.TPM) (err error) {
		created, err = t.learn(tr, handle)
		return err
	})
	if err != nil && !errors.Is(err, rot.ErrUnavailable) {
		err = fmt.Errorf("%w: %w", rot.ErrUnavailable, err)
	}
	if err != nil {
		return false, fmt.Errorf("tpm: open %s: %w", t.device, err)
	}
	return created, nil
}

// learn reads the TPM's vendor and identity, checks that the PCR bank exists
// and finds the storage key at handle, creating it if the handle is empty.
func (t *TPM) learn(tr transport.TPM, handle tpm2.TPMHandle) (created bool, err error) {
	t.vendor = vendor(tr)
	if t.identity, err = loadIdentity(tr); err != nil {
		return false, err
	}
	t.deviceID = sha256.Sum256(t.identity.name.Buffer)
	if _, err := readPCRs(tr, t.pcrs); err != nil {
		return false, err
	}
	var found bool
	if t.storage, found, err = findStorageKey(tr, handle); err != nil || found {
		return false, err
	}
	t.storage, err = createStorageKey(tr, handle)
	return err == nil, err
}

// reconcile compares the state record with what Open found and rewrites it.
// A different storage key means blobs sealed before cannot be unsealed; that
// is worth a warning now rather than a surprise at the next unlock.
func (t *TPM) reconcile(created bool) error {
	old, found, err := readRecord(t.stateDir)
	if err != nil {
		return err
	}
	now := newRecord(t.DeviceID(), t.storage)
	if found && old != now {
		t.logger.Warn("tpm identity or storage key changed since the last start; secrets sealed before cannot be unsealed here",
			"oldDeviceId", old.DeviceID, "deviceId", now.DeviceID,
			"oldStorageKey", old.StorageKeyName, "storageKey", now.StorageKeyName, "storageKeyCreated", created)
	}
	if found && old == now {
		return nil
	}
	return writeRecord(t.stateDir, now)
}

// vendor returns the TPM manufacturer's four-letter code, or "" if the TPM
// does not say.
func vendor(tr transport.TPM) string {
	rsp, err := tpm2.GetCapability{
		Capability: tpm2.TPMCapTPMProperties, Property: uint32(tpm2.TPMPTManufacturer), PropertyCount: 1,
	}.Execute(tr)
	if err != nil {
		return ""
	}
	props, err := rsp.CapabilityData.Data.TPMProperties()
	if err != nil || len(props.TPMProperty) == 0 || props.TPMProperty[0].Property != tpm2.TPMPTManufacturer {
		return ""
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], props.TPMProperty[0].Value)
	return strings.TrimRight(string(b[:]), " \x00")
}

// do runs fn with exclusive use of the TPM. The context is checked before fn
// starts, and its deadline (at most opTimeout away) bounds fn's I/O; a
// command in flight is not abandoned on cancellation, since the TPM finishes
// it anyway. A connection that fails mid-exchange cannot be resynchronised:
// every later call fails with rot.ErrUnavailable until the TPM is reopened.
func (t *TPM) do(ctx context.Context, fn func(tr transport.TPM) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return rot.ErrClosed
	}
	if t.lost != nil {
		return fmt.Errorf("reopen the root of trust after an earlier failure: %w", t.lost)
	}
	deadline := time.Now().Add(opTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = t.tr.SetDeadline(deadline) // unpollable devices: unbounded
	err := fn(t.tr)
	if errors.Is(err, rot.ErrUnavailable) {
		t.lost = err
		t.logger.Error("tpm connection lost", "device", t.device, "err", err)
	}
	_ = t.tr.SetDeadline(time.Time{})
	return err
}

// DeviceID returns the device id: the hex SHA-256 of the identity key's TPM
// name. It is stable for the life of the TPM's owner hierarchy.
func (t *TPM) DeviceID() string {
	return hex.EncodeToString(t.deviceID[:])
}

// Identity returns the device identity key, an ECC P-256 key whose private
// part never leaves the TPM. Its Public method returns an *ecdsa.PublicKey;
// Sign takes a SHA-256/384/512 digest and returns an ASN.1 DER signature.
func (t *TPM) Identity(ctx context.Context) (crypto.Signer, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("tpm identity: %w", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, fmt.Errorf("tpm identity: %w", rot.ErrClosed)
	}
	return signer{t}, nil
}

// Random returns n bytes from the TPM's random number generator. They cross
// the bus in clear; the appliance mixes them with the operating system's
// generator, so seeing them does not reveal the keys made from them.
func (t *TPM) Random(ctx context.Context, n int) ([]byte, error) {
	if n < 0 || n > maxRandom {
		return nil, fmt.Errorf("tpm random: %d bytes requested, want 0 to %d", n, maxRandom)
	}
	out := make([]byte, 0, n)
	for len(out) < n {
		err := t.do(ctx, func(tr transport.TPM) error {
			rsp, err := tpm2.GetRandom{BytesRequested: uint16(min(n-len(out), 64))}.Execute(tr)
			if err != nil {
				return err
			}
			if len(rsp.RandomBytes.Buffer) == 0 {
				return errors.New("the TPM returned no bytes")
			}
			out = append(out, rsp.RandomBytes.Buffer[:min(len(rsp.RandomBytes.Buffer), n-len(out))]...)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("tpm random: %w", err)
		}
	}
	return out, nil
}

// PCRs returns the current SHA-256 values of the configured policy PCRs.
func (t *TPM) PCRs(ctx context.Context) (map[int][]byte, error) {
	var values [][]byte
	err := t.do(ctx, func(tr transport.TPM) (err error) {
		values, err = readPCRs(tr, t.pcrs)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("tpm pcrs: %w", err)
	}
	out := make(map[int][]byte, len(values))
	for i, p := range t.pcrs {
		out[p] = values[i]
	}
	return out, nil
}

// Describe reports the device, its vendor and the sealing PCRs.
func (t *TPM) Describe() rot.Description {
	return rot.Description{
		Kind:   "tpm",
		Detail: fmt.Sprintf("%s (vendor %q), sealing to SHA-256 PCRs %v", t.device, t.vendor, t.pcrs),
	}
}

// Destroy evicts the storage key from the TPM, which makes every blob sealed
// by this TPM unrecoverable, removes the state record and closes the root of
// trust (factory reset). The identity key is derived, not stored, so it
// survives. After Close it returns an error wrapping rot.ErrClosed.
func (t *TPM) Destroy(ctx context.Context) error {
	err := t.do(ctx, func(tr transport.TPM) error { return t.storage.evict(tr) })
	if err != nil {
		return fmt.Errorf("tpm destroy: %w", err)
	}
	t.logger.Info("tpm storage key evicted", "device", t.device, "handle", fmt.Sprintf("%#x", uint32(t.storage.handle)))
	if err := removeRecord(t.stateDir); err != nil {
		return fmt.Errorf("tpm destroy: %w", err)
	}
	return t.Close()
}

// Close disconnects from the TPM. Nothing transient is loaded between calls,
// so there is nothing to flush. It is idempotent; afterwards every method
// returns an error wrapping rot.ErrClosed.
func (t *TPM) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	if err := t.tr.Close(); err != nil {
		return fmt.Errorf("tpm close: %w", err)
	}
	return nil
}

// flush removes a transient object or session from the TPM.
func flush(tr transport.TPM, h tpm2.TPMHandle) error {
	if _, err := (tpm2.FlushContext{FlushHandle: h}).Execute(tr); err != nil {
		return fmt.Errorf("flush handle %#x: %w", uint32(h), err)
	}
	return nil
}
