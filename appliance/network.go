package appliance

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"time"

	"github.com/keywarden/keywarden/appliance/api"
	"github.com/keywarden/keywarden/netcfg"
)

// The network configuration is node-local: the confirmed configuration is
// stored sealed under the device key and applied at every start, before the
// API listens; netcfg keeps the kernel in that state while the appliance
// runs. A configuration being tried is never stored, so a restart during a
// try comes back with the previous one.

// openNetwork creates the network manager for --interface (nothing without
// it). A missing interface is a configuration error the operator must fix.
func (a *Appliance) openNetwork() error {
	if a.cfg.Interface == "" || a.net != nil {
		return nil
	}
	m, err := netcfg.NewManager(a.cfg.Interface, a.log.With("component", "network"))
	if err != nil {
		return fmt.Errorf("--interface %s: %w", a.cfg.Interface, err)
	}
	a.net = m
	return nil
}

// loadNetwork applies the stored configuration (at boot, before the API
// listens). A configuration the kernel refuses is logged; the reconcile loop
// keeps trying.
func (a *Appliance) loadNetwork(ctx context.Context) error {
	if a.net == nil {
		return nil
	}
	c, ok, err := a.storedNetwork(ctx)
	if err != nil || !ok {
		return err
	}
	if d, ok := a.net.Desired(); ok && reflect.DeepEqual(d, c) {
		return nil // already applied from the data directory's copy at boot
	}
	if err := a.net.Apply(ctx, c); err != nil {
		a.log.Error("the stored network configuration was not applied; retrying in the background", "err", err)
	}
	return nil
}

func (a *Appliance) storedNetwork(ctx context.Context) (netcfg.Config, bool, error) {
	return getLocal[netcfg.Config](ctx, a, "network")
}

// storeNetwork stores c in the node-local store and in a sealed file in the
// data directory, which boot applies before the store runs.
func (a *Appliance) storeNetwork(ctx context.Context, c netcfg.Config) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if _, err = a.local.Txn(ctx, nil, a.local.Put(a.localPath("network"), b)); err != nil {
		return err
	}
	return writeFileAtomic(a.path(fileNetwork), a.fileSealer.Seal(networkSealPath, b))
}

const (
	// fileNetwork is the confirmed network configuration, sealed under the
	// device key: a cluster member applies it before its store can serve
	// (the store needs the network to reach its peers).
	fileNetwork     = "network.sealed"
	networkSealPath = "keywarden/network/v1"
)

// applyNetworkFile applies the network configuration from the data
// directory at boot, before the store starts. Problems are logged: the
// configuration in the store is applied again once it can be read.
func (a *Appliance) applyNetworkFile(ctx context.Context) {
	if a.net == nil {
		return
	}
	sealed, err := os.ReadFile(a.path(fileNetwork))
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	var c netcfg.Config
	if err == nil {
		var b []byte
		if b, err = a.fileSealer.Open(networkSealPath, sealed); err == nil {
			err = json.Unmarshal(b, &c)
		}
	}
	if err == nil {
		err = a.net.Apply(ctx, c)
	}
	if err != nil {
		a.log.Warn("the network configuration in the data directory was not applied", "err", err)
	}
}

func (a *Appliance) netManager() (*netcfg.Manager, error) {
	if a.net == nil {
		return nil, fmt.Errorf("%w: this appliance manages no network interface; start keywardend with --interface NAME", api.ErrNotFound)
	}
	return a.net, nil
}

// Network implements api.Backend: the configuration on trial if there is
// one, else the stored one, else (before any was set) what the kernel has.
func (a *Appliance) Network(ctx context.Context) (netcfg.Config, error) {
	m, err := a.netManager()
	if err != nil {
		return netcfg.Config{}, err
	}
	if _, _, trying := m.Pending(); trying {
		c, _ := m.Desired()
		return c, nil
	}
	if c, ok, err := a.storedNetwork(ctx); err != nil || ok {
		return c, err
	}
	return m.Current(ctx)
}

// applyDelay is how long a network change waits before it reaches the
// kernel: long enough for the answer to leave on the connection that the
// change may cut (an operator moving the address they are connected to).
const applyDelay = 250 * time.Millisecond

// SetNetwork implements api.Backend: checked and stored now, applied to the
// kernel just after the answer is sent. A configuration the kernel refuses
// is logged and retried by the reconcile loop, as at boot.
func (a *Appliance) SetNetwork(ctx context.Context, c netcfg.Config) error {
	m, err := a.netManager()
	if err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return netError(err)
	}
	a.netMu.Lock()
	defer a.netMu.Unlock()
	move, err := a.planPeerMove(ctx, c)
	if err != nil {
		return err
	}
	undoMove := func() error { return nil }
	if move != nil {
		if undoMove, err = a.startPeerMove(ctx, move); err != nil {
			return err
		}
	}
	if err := a.storeNetwork(ctx, c); err != nil {
		if uerr := undoMove(); uerr != nil {
			err = fmt.Errorf("%w (undoing the peer address move to %s failed too: %v)", err, move.to, uerr)
		}
		return err
	}
	a.netTry = nil // a plain change settles any try
	a.applyLater(func() {
		if err := m.Apply(context.Background(), c); err != nil {
			a.log.Error("the network configuration was not applied; retrying in the background", "err", err)
			return // the member keeps its listener until the address exists
		}
		a.settlePeerListener(context.Background())
	})
	return nil
}

// applyLater runs apply, with a.netMu held, applyDelay from now, unless
// another change was made meanwhile: the newest change wins, whatever order
// the timers fire in. a.netMu must be held.
func (a *Appliance) applyLater(apply func()) {
	a.netGen++
	gen := a.netGen
	time.AfterFunc(applyDelay, func() {
		a.netMu.Lock()
		defer a.netMu.Unlock()
		if gen == a.netGen {
			apply()
		}
	})
}

// networkTry is a try the API announced: the manager's own id once the
// change has been applied.
type networkTry struct {
	id        string // the API's id, announced before the change is applied
	managerID string // the manager's, once applied
}

// TryNetwork implements api.Backend: applied just after the answer is sent,
// reverted to the previous configuration unless confirmed within timeout.
// Before any configuration was set, the previous one is what the kernel has.
func (a *Appliance) TryNetwork(ctx context.Context, c netcfg.Config, timeout time.Duration) (string, time.Time, error) {
	m, err := a.netManager()
	if err != nil {
		return "", time.Time{}, err
	}
	if err := c.Validate(); err != nil {
		return "", time.Time{}, netError(err)
	}
	a.netMu.Lock()
	defer a.netMu.Unlock()
	if move, err := a.planPeerMove(ctx, c); err != nil {
		return "", time.Time{}, err
	} else if move != nil {
		return "", time.Time{}, fmt.Errorf("%w: this change moves the address the cluster peers reach this node on (%s to %s), which try mode cannot revert; apply it without try", api.ErrPrecondition, move.from, move.to)
	}
	if _, ok := m.Desired(); !ok {
		cur, err := m.Current(ctx)
		if err != nil {
			return "", time.Time{}, err
		}
		if err := m.Apply(ctx, cur); err != nil {
			return "", time.Time{}, fmt.Errorf("take over the current network configuration: %w", err)
		}
	}
	id := rand.Text()
	deadline := a.Now().Add(applyDelay + timeout)
	a.netTry = &networkTry{id: id}
	a.applyLater(func() {
		mid, err := m.Try(context.Background(), c, timeout)
		if err != nil {
			a.log.Error("the network configuration on trial was not applied; the previous one stays", "try", id, "err", err)
			a.netTry = nil
			return
		}
		a.netTry.managerID = mid // still this try: a newer change would have stopped this apply
	})
	return id, deadline, nil
}

// ConfirmNetwork implements api.Backend: the configuration being tried
// becomes the stored one.
func (a *Appliance) ConfirmNetwork(ctx context.Context, id string) error {
	m, err := a.netManager()
	if err != nil {
		return err
	}
	a.netMu.Lock()
	defer a.netMu.Unlock()
	if a.netTry != nil && a.netTry.id == id && a.netTry.managerID == "" {
		// Announced but not applied yet (a confirm right after the 202):
		// wait for the delayed apply.
		a.netMu.Unlock()
		time.Sleep(2 * applyDelay)
		a.netMu.Lock()
	}
	if a.netTry == nil || a.netTry.id != id || a.netTry.managerID == "" {
		return fmt.Errorf("%w: no network configuration with try id %q is on trial", api.ErrNotFound, id)
	}
	if err := m.Confirm(a.netTry.managerID); err != nil {
		return netError(err)
	}
	a.netTry = nil
	c, _ := m.Desired()
	if err := a.storeNetwork(ctx, c); err != nil {
		return fmt.Errorf("the network configuration is confirmed but not stored; it is lost at the next start: %w", err)
	}
	return nil
}

// netError maps netcfg's refusals to API statuses.
func netError(err error) error {
	switch {
	case errors.Is(err, netcfg.ErrInvalid):
		return fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	case errors.Is(err, netcfg.ErrNoTry):
		return fmt.Errorf("%w: %v", api.ErrNotFound, err)
	}
	return err
}
