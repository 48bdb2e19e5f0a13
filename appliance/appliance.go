// Package appliance is Keywarden's composition root: it reads the
// configuration, opens the root of trust, the store and the HTTPS identity,
// runs the state machine (Unprovisioned, Locked, Operational, Failed) and
// serves the REST API until it is told to stop.
package appliance

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keywarden/keywarden/netcfg"

	"github.com/keywarden/keywarden/netcfg/timesync"

	"github.com/keywarden/keywarden/appliance/api"
	"github.com/keywarden/keywarden/appliance/keyring"
	"github.com/keywarden/keywarden/appliance/tlsconf"
	"github.com/keywarden/keywarden/appliance/vault"
	"github.com/keywarden/keywarden/cluster"
	"github.com/keywarden/keywarden/rot"
	"github.com/keywarden/keywarden/systemd"
)

// Version and Build are set at link time (-ldflags -X).
var (
	Version = "0.1.0-dev"
	Build   = "unknown"
)

// action is a system action requested through the API.
type action int

const (
	actNone action = iota
	actReboot
	actShutdown
	actFactoryReset
)

// Appliance is one Keywarden appliance. New starts nothing; Run boots it and
// serves until its context ends or a shutdown is requested.
type Appliance struct {
	cfg     Config
	log     *slog.Logger
	notify  *systemd.Notifier
	kdf     keyring.KDFParams
	actions chan action
	// actionMu orders requests for system actions (see FactoryReset).
	actionMu sync.Mutex
	started  time.Time

	// Set by boot, released by teardown; read-only while serving.
	rot    rot.RootOfTrust
	member *cluster.Member
	kv     cluster.KV
	local  *vault.Vault // node-local values, sealed under the device key
	nodeID string
	tls    *tlsconf.Server // serves tlsID; survives reboots so the listener config stays valid
	api    *api.Server
	// net manages --interface; it outlives in-process reboots, like the
	// interface itself. netMu serialises changes to it.
	net    *netcfg.Manager
	netMu  sync.Mutex
	netTry *networkTry // the try the API announced; guarded by netMu
	netGen uint64      // counts network changes; guarded by netMu
	// fileSealer seals node-local files the boot reads before the store
	// runs: the peer identity and the network configuration (device key
	// sub-key; each file's path is its associated data).
	fileSealer *keyring.Sealer

	// peered is set while the store member has peers (or listens for them);
	// requests then pass the cache barrier.
	peered atomic.Bool
	// movedPeer is the peer address a network change moved this node to
	// (stored in the data directory; it overrides --peer-listen), or nil.
	movedPeer atomic.Pointer[string]
	// restoring is set while a restore holds its spooled upload: one at a
	// time, so that uploads cannot fill the data directory.
	restoring atomic.Bool
	// board holds the members' heartbeats (GET /cluster/status).
	board statusBoard
	// skewAlarm is how many members the clock-skew alarm names (metrics).
	skewAlarm atomic.Int64

	// opMu serialises state transitions (provision, unlock, lock, ...), which
	// run Argon2id and must not interleave.
	opMu sync.Mutex
	// mu guards the fields below, read on every request.
	mu          sync.RWMutex
	state       api.State
	reason      string
	sess        *session
	clock       timesync.Clock  // set when the node-local configuration is read
	clockChoice timesync.Choice // which clock, and why
	syncer      *timesync.Syncer
	offsetMu    sync.Mutex // orders clock steps and offset stores
	tlsID       *tlsconf.Identity
	quorum      quorumState
	joinStage   string // where a running join is (GET /cluster/status)
	// pendingLocal holds node-local entries a join could not write yet.
	pendingLocal []cluster.Entry
}

// New checks cfg and returns an appliance that is not yet running.
func New(cfg Config) (*Appliance, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	a := &Appliance{
		cfg:     cfg,
		log:     cfg.Logger,
		notify:  systemd.New(cfg.Logger),
		kdf:     keyring.DefaultKDF,
		actions: make(chan action, 1),
	}
	if cfg.InsecureTestKDF {
		a.kdf = keyring.TestKDF
	}
	return a, nil
}

// Run boots the appliance and serves the API until ctx ends or a shutdown is
// requested. A reboot or factory reset through the API restarts the boot
// sequence in-process. Run returns nil on a clean stop.
func (a *Appliance) Run(ctx context.Context) error {
	a.started = time.Now()
	if a.cfg.InsecureTestKDF {
		a.log.Warn("INSECURE: test key-derivation parameters are enabled; every passphrase is trivially brute-forceable. Never use --insecure-test-kdf outside tests.")
	}
	for {
		act, err := a.runOnce(ctx)
		if err != nil {
			return err
		}
		switch act {
		case actReboot:
			a.log.Info("rebooting")
		case actFactoryReset:
			a.log.Warn("factory reset: all keys, users and configuration of this node are being erased")
			if err := a.wipe(ctx); err != nil {
				return fmt.Errorf("factory reset: %w", err)
			}
		default:
			return nil
		}
	}
}

// runOnce boots, serves until told to stop, and tears down.
func (a *Appliance) runOnce(ctx context.Context) (action, error) {
	if err := a.boot(ctx); err != nil {
		a.teardown()
		return actNone, err
	}
	srv, err := a.serve()
	if err != nil {
		a.teardown()
		return actNone, err
	}
	a.reportReady()
	wdCtx, stopWatchdog := context.WithCancel(ctx)
	var watchers sync.WaitGroup
	watchers.Go(func() { a.notify.RunWatchdog(wdCtx, a.healthy) })
	if a.member != nil {
		watchers.Go(func() { a.watchQuorum(wdCtx) })
		watchers.Go(func() { a.watchHeartbeats(wdCtx) })
		watchers.Go(func() { a.watchUnlockSlot(wdCtx) })
		watchers.Go(func() { a.watchSkew(wdCtx) })
	}
	if a.net != nil {
		watchers.Go(func() {
			if err := a.net.Run(wdCtx); err != nil {
				a.log.Error("network reconcile loop ended", "err", err)
			}
		})
	}
	watchers.Go(func() { a.runTimeSync(wdCtx) })

	act := actShutdown
	select {
	case <-ctx.Done():
	case act = <-a.actions:
	}
	stopWatchdog()
	watchers.Wait() // they use the member, which teardown releases
	_ = a.notify.Stopping()
	a.log.Info("stopping", "reason", actionName(act, ctx))
	a.stopServing(srv)
	a.teardown()
	return act, nil
}

func actionName(act action, ctx context.Context) string {
	switch {
	case ctx.Err() != nil:
		return "signal"
	case act == actReboot:
		return "reboot requested"
	case act == actFactoryReset:
		return "factory reset requested"
	}
	return "shutdown requested"
}

// request queues a system action; it is carried out once the current
// responses are written.
func (a *Appliance) request(act action) error {
	a.actionMu.Lock()
	defer a.actionMu.Unlock()
	return a.requestLocked(act)
}

// requestLocked is request with a.actionMu held.
func (a *Appliance) requestLocked(act action) error {
	select {
	case a.actions <- act:
		return nil
	default:
		return fmt.Errorf("%w: another system action is already in progress", api.ErrPrecondition)
	}
}

func (a *Appliance) healthy() bool {
	st, _ := a.State()
	return st != api.Failed
}

// State implements api.Backend.
func (a *Appliance) State() (api.State, string) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.state, a.reason
}

func (a *Appliance) setState(st api.State, reason string) {
	a.mu.Lock()
	a.state, a.reason = st, reason
	a.mu.Unlock()
	status := "state: " + string(st)
	if reason != "" {
		status += " (" + reason + ")"
		a.log.Warn("state changed", "state", st, "reason", reason)
	} else {
		a.log.Info("state changed", "state", st)
	}
	_ = a.notify.Status(status)
}

// fail enters the Failed state with a reason an operator can act on.
func (a *Appliance) fail(reason string, err error) {
	if err != nil {
		reason = reason + ": " + err.Error()
	}
	a.setState(api.Failed, reason)
}

func (a *Appliance) currentSyncer() *timesync.Syncer {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.syncer
}
