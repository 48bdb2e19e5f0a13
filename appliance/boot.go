package appliance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/keywarden/keywarden/netcfg/timesync"

	"github.com/keywarden/keywarden/appliance/api"
	"github.com/keywarden/keywarden/appliance/keyring"
	"github.com/keywarden/keywarden/appliance/vault"
	"github.com/keywarden/keywarden/cluster"
	"github.com/keywarden/keywarden/rot"
	"github.com/keywarden/keywarden/rot/soft"
	"github.com/keywarden/keywarden/rot/tpm"
)

// Files in the data directory.
const (
	fileNodeID     = "node-id"
	fileDeviceKey  = "device-key.sealed" // the device key, sealed by the root of trust
	fileUnlockSlot = "unlock-slot.json"  // copy of the passphrase-wrapped domain key
	fileSoftRoT    = "rot-soft.key"      // development root of trust only
	dirTPM         = "tpm"               // TPM root of trust bookkeeping (no secrets)
	dirEtcd        = "etcd"
)

func (a *Appliance) path(name string) string { return filepath.Join(a.cfg.DataDir, name) }

// boot brings up everything the API needs. It returns an error only for
// problems the operator must fix before the appliance can run at all (bad data
// directory, missing root of trust); anything else puts it in Failed with a
// reason, and it still serves the API so the operator can see why.
func (a *Appliance) boot(ctx context.Context) error {
	a.resetRunState()
	if err := os.MkdirAll(a.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	if err := os.Chmod(a.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("restrict data directory: %w", err)
	}
	if err := a.openNetwork(); err != nil {
		return err
	}
	nodeID, err := loadOrCreateNodeID(a.path(fileNodeID))
	if err != nil {
		return err
	}
	a.nodeID = nodeID
	if a.rot, err = a.openRoT(ctx); err != nil {
		if !a.initialised() {
			return err // a configuration error: nothing was ever sealed here
		}
		a.fail("the root of trust cannot be opened: "+rotReason(err), nil)
		return a.ephemeralTLS()
	}
	a.describeRoT()
	a.mixEntropy(ctx)
	deviceKey, err := a.deviceKey(ctx)
	if err != nil {
		a.fail("the device key cannot be unsealed: "+rotReason(err), nil)
		return a.ephemeralTLS()
	}
	if a.fileSealer, err = keyring.NewSubSealer(deviceKey, keyring.PurposeLocalFiles); err != nil {
		return err
	}
	// The network comes first: a cluster member needs its address to reach
	// the peers its store waits for.
	a.applyNetworkFile(ctx)
	if err := a.startStore(ctx); err != nil {
		a.fail("the key store did not start", err)
		return a.ephemeralTLS()
	}
	sealer, err := keyring.NewSubSealer(deviceKey, keyring.PurposeLocalStore)
	if err != nil {
		return err
	}
	a.local = vault.New(a.kv, sealer)
	err = a.finishBoot(ctx)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, cluster.ErrUnavailable) && a.member.Config().PeerTLS != nil:
		return a.waitForStore(err)
	}
	a.fail("the store or the node-local configuration is unreadable (was the device key replaced?)", err)
	return a.ephemeralTLS()
}

// finishBoot reads the node-local configuration and decides the state. It
// needs the store; a cluster member that restarts while its peers are down
// runs it later, from the quorum watch.
func (a *Appliance) finishBoot(ctx context.Context) error {
	if err := a.loadLocal(ctx); err != nil {
		return err
	}
	return a.initialState(ctx)
}

// resetRunState forgets what the previous boot (before an in-process reboot
// or factory reset) knew about its cluster, so none of it leaks into this one.
func (a *Appliance) resetRunState() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.quorum = quorumState{}
	a.pendingLocal = nil
	a.joinStage = ""
	a.board.reset()
	a.peered.Store(false)
	a.skewAlarm.Store(0)
	a.clock, a.clockChoice, a.syncer = nil, timesync.Choice{}, nil
}

// openRoT opens the configured root of trust. There is no fallback: a missing
// root of trust is an error the operator must see.
func (a *Appliance) openRoT(ctx context.Context) (rot.RootOfTrust, error) {
	logger := a.log.With("component", "rot")
	switch a.cfg.RoT {
	case "soft":
		r, err := soft.Open(a.path(fileSoftRoT), logger)
		if err != nil {
			return nil, fmt.Errorf("open soft root of trust: %w", err)
		}
		return r, nil
	case "tpm":
		pcrs, err := a.cfg.PCRList()
		if err != nil {
			return nil, err
		}
		r, err := tpm.Open(ctx, tpm.Config{Device: a.cfg.TPMDevice, PCRs: pcrs, StateDir: a.path(dirTPM), Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("open TPM root of trust: %w", err)
		}
		return r, nil
	case "pkcs11":
		return a.openPKCS11(ctx, logger)
	}
	return nil, fmt.Errorf("root of trust %q is unknown", a.cfg.RoT)
}

func (a *Appliance) describeRoT() {
	d, ok := a.rot.(rot.Describer)
	if !ok {
		return
	}
	desc := d.Describe()
	if desc.DevelopmentOnly {
		a.log.Warn("DEVELOPMENT ONLY: the root of trust is a file on disk, not hardware; anyone who copies the data directory can read every key. Use --rot tpm or --rot pkcs11 in production.", "rot", desc.Kind)
		return
	}
	a.log.Info("root of trust opened", "rot", desc.Kind, "detail", desc.Detail)
}

// initialised reports whether this node already sealed a device key, so a
// root of trust that fails now is a fault of the device, not of the
// configuration.
func (a *Appliance) initialised() bool {
	_, err := os.Stat(a.path(fileDeviceKey))
	return err == nil
}

// deviceKey unseals the node's device key, creating it on first boot.
func (a *Appliance) deviceKey(ctx context.Context) ([]byte, error) {
	blob, err := os.ReadFile(a.path(fileDeviceKey))
	if errors.Is(err, os.ErrNotExist) {
		if _, serr := os.Stat(a.path(dirEtcd)); serr == nil {
			return nil, errors.New("the sealed device key is missing but the store exists; restore the data directory or factory-reset")
		}
		return a.createDeviceKey(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("read sealed device key: %w", err)
	}
	key, err := a.rot.Unseal(ctx, blob)
	if err != nil {
		return nil, err
	}
	if len(key) != keyring.KeySize {
		return nil, fmt.Errorf("unsealed device key has %d bytes, want %d", len(key), keyring.KeySize)
	}
	return key, nil
}

func (a *Appliance) createDeviceKey(ctx context.Context) ([]byte, error) {
	key := keyring.NewKey()
	blob, err := a.rot.Seal(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("seal new device key: %w", err)
	}
	if err := writeFileAtomic(a.path(fileDeviceKey), blob); err != nil {
		return nil, err
	}
	a.log.Info("device key created and sealed by the root of trust")
	return key, nil
}

// startStore starts the store member: alone, or with the peer identity the
// node got when it founded or joined a cluster with peers.
func (a *Appliance) startStore(ctx context.Context) error {
	if err := a.recoverPrejoin(); err != nil {
		return fmt.Errorf("restore the store of an interrupted join: %w", err)
	}
	peer, err := a.loadPeer()
	if err != nil {
		return err
	}
	if err := a.loadPeerAddress(); err != nil {
		return err
	}
	if peer != nil && a.peerListen() == "" {
		return errors.New("this node is a cluster member but has no peer address; start keywardend with the --peer-listen it had")
	}
	m, err := cluster.New(a.memberConfig(peer))
	if err != nil {
		return err
	}
	if err := m.Start(ctx); err != nil {
		return err
	}
	a.member, a.kv = m, m.KV()
	a.peered.Store(peer != nil)
	return nil
}

// initialState decides Unprovisioned or Locked and tries unattended boot.
func (a *Appliance) initialState(ctx context.Context) error {
	_, err := a.kv.Get(ctx, pathUnlockSlot)
	if errors.Is(err, cluster.ErrNotFound) {
		a.setState(api.Unprovisioned, "")
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the unlock slot: %w", err)
	}
	a.setState(api.Locked, "")
	a.tryUnattendedBoot(ctx)
	return nil
}

// teardown releases what boot acquired, in reverse order. It is safe after a
// partial boot.
func (a *Appliance) teardown() {
	a.opMu.Lock() // no state transition may run while the parts go away
	defer a.opMu.Unlock()
	a.closeSession()
	if a.member != nil {
		if err := a.member.Close(); err != nil {
			a.log.Warn("closing the store", "err", err)
		}
		a.member, a.kv, a.local = nil, nil, nil
	}
	if a.rot != nil {
		_ = a.rot.Close()
		a.rot = nil
	}
}

// wipe erases this node's state: root-of-trust material, then the data
// directory. The next boot starts Unprovisioned.
func (a *Appliance) wipe(ctx context.Context) error {
	r, err := a.openRoT(ctx)
	if err == nil {
		if d, ok := r.(rot.Destroyer); ok {
			if err := d.Destroy(ctx); err != nil {
				a.log.Warn("factory reset: root-of-trust material not fully destroyed", "err", err)
			}
		}
		_ = r.Close()
	}
	entries, err := os.ReadDir(a.cfg.DataDir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(a.path(e.Name())); err != nil {
			return err
		}
	}
	a.log.Warn("factory reset complete: data directory erased")
	return nil
}
