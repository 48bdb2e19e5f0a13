package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
)

// memberState is where a Member is in its lifecycle.
type memberState int

const (
	// stateStopped: nothing runs. The member never started, was stopped, or
	// its last Start or Restart failed; Start and Restart may run.
	stateStopped memberState = iota
	stateStarted
	// stateClosed is final.
	stateClosed
)

// Member is one embedded etcd member and the daemon's client of it.
type Member struct {
	logs *logSink
	kv   *etcdKV       // the same for the Member's whole life
	id   atomic.Uint64 // etcd's member ID, known once started
	// watch follows the running etcd server; nil while stopped. It is set
	// and cleared with mu held, and read without by Remove.
	watch atomic.Pointer[serverWatch]

	// cfgMu lets readers that do not hold mu see cfg; it is written only
	// with mu held as well.
	cfgMu sync.RWMutex
	cfg   Config

	mu        sync.Mutex    // serialises Start, Restart, Stop and Close
	socket    string        // absolute path of the client socket
	peerID    *peerIdentity // parsed cfg.PeerTLS; nil without
	state     memberState
	lock      *os.File
	peerFiles *peerFiles
	etcd      *embed.Etcd
	client    *clientv3.Client
}

// prepared is a validated Config with what a Member derives from it.
type prepared struct {
	cfg    Config
	socket string
	peerID *peerIdentity
}

// prepare validates cfg and derives the rest. It has no side effects.
func prepare(cfg Config) (prepared, error) {
	peerID, err := cfg.check()
	if err != nil {
		return prepared{}, err
	}
	socket, err := socketPath(cfg.DataDir)
	if err != nil {
		return prepared{}, fmt.Errorf("resolve client socket path: %w", err)
	}
	return prepared{cfg: cfg.clone(), socket: socket, peerID: peerID}, nil
}

// New validates cfg and returns a Member that has not started anything.
func New(cfg Config) (*Member, error) {
	p, err := prepare(cfg)
	if err != nil {
		return nil, err
	}
	m := &Member{logs: &logSink{}, kv: &etcdKV{timeout: callTimeout}}
	m.apply(p)
	return m, nil
}

// apply makes p the member's configuration. Nothing may run: m.mu must be
// held, or m not yet shared.
func (m *Member) apply(p prepared) {
	m.cfgMu.Lock()
	m.cfg = p.cfg
	m.cfgMu.Unlock()
	m.socket, m.peerID = p.socket, p.peerID
	m.logs.log = p.cfg.Logger
	if m.logs.log == nil {
		m.logs.log = slog.New(slog.DiscardHandler)
	}
}

// config returns the current configuration, for readers that do not hold
// m.mu. It shares maps and slices with m.cfg, which are never modified.
func (m *Member) config() Config {
	m.cfgMu.RLock()
	defer m.cfgMu.RUnlock()
	return m.cfg
}

// Config returns a copy of the configuration the member was last started or
// restarted with (or created with, before that). Join, InitialCluster and
// ForceNewCluster only say how to start a data dir; once a start with them
// has succeeded, the data dir records what they did, so Config returns them
// cleared and Restart(ctx, m.Config()) starts the same member again.
func (m *Member) Config() Config { return m.config().clone() }

// DataDir returns the directory holding the member's data and client socket.
func (m *Member) DataDir() string { return m.config().DataDir }

// ID returns etcd's ID of this member, or 0 before it first started.
func (m *Member) ID() uint64 { return m.id.Load() }

// PeerURL returns the URL this member advertises to its peers: the one to
// register it with (AddLearner) and to list in InitialCluster.
func (m *Member) PeerURL() string { return m.config().peerURL() }

// KV returns the store served by this member: the same store for the
// member's whole life, which follows it across restarts. Calls made while
// the member is not running, or is waiting for quorum, fail with an error
// wrapping ErrUnavailable.
func (m *Member) KV() KV { return m.kv }

// Ready reports whether the store serves: the member runs and has reached a
// quorum of its cluster since it last started, and etcd has not stopped by
// itself since (as it does when the member is removed). It does not tell
// whether the quorum still holds; Status does.
func (m *Member) Ready() bool { return m.kv.client.Load() != nil }

// RecentLogs returns etcd's most recent warnings and errors, oldest first.
func (m *Member) RecentLogs() []LogRecord { return m.logs.ring.records() }

// Start starts etcd and returns once it serves requests, or when ctx ends.
// A member of a cluster serves only once it has quorum, so Start blocks until
// then, unless Config.StartWithoutQuorum allows otherwise; a joining member
// returns once it has caught up with the cluster, as a learner. A member
// that serves moves its recorded peer URL onto the one it now advertises
// (see adoptPeerURL).
//
// On any failure Start stops everything it started, and a failed join also
// removes the member data it created; a failed Start may be retried. A join
// fails with an error wrapping ErrHasMemberData when the data dir already
// holds a member, ErrPeerTLS when the cluster and this member refuse each
// other's certificates, or ErrUnavailable when no member answers.
// ForceNewCluster fails with ErrNoMemberData when there is no member to
// recover.
func (m *Member) Start(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch m.state {
	case stateStarted:
		return errors.New("start cluster member: already started")
	case stateClosed:
		return errors.New("start cluster member: member is closed")
	}
	return m.start(ctx)
}

// Restart stops the member, if it runs, in Close's order, and starts it
// again with cfg as Start does: for example with a peer listener, with Join
// in a fresh data dir, or with ForceNewCluster. It also starts a member
// whose last Start or Restart failed, which lets a caller put back the old
// configuration after a failed change. A Restart that fails leaves the
// member stopped, with cfg as its configuration.
//
// The store from KV stays the same object: while the member restarts its
// calls fail with ErrUnavailable, and afterwards they reach the restarted
// member. Watches opened before end (their channels close); new ones work.
//
// Restart checks cfg before it stops anything: an invalid cfg, a Join into
// a data dir that holds a member (ErrHasMemberData) or a ForceNewCluster
// without one (ErrNoMemberData) leave a running member running. After Close
// it fails.
func (m *Member) Restart(ctx context.Context, cfg Config) error {
	p, err := prepare(cfg)
	if err == nil {
		err = checkMemberData(p.cfg)
	}
	if err != nil {
		return fmt.Errorf("restart cluster member %q: %w", cfg.Name, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state == stateClosed {
		return errors.New("restart cluster member: member is closed")
	}
	m.state = stateStopped
	if err := m.stop(); err != nil {
		return fmt.Errorf("restart cluster member %q: %w", m.cfg.Name, err)
	}
	m.apply(p)
	return m.start(ctx)
}

// Stop stops the member in Close's order but, unlike Close, allows Start or
// Restart afterwards. The store fails with ErrUnavailable until then. Stop
// does nothing to a member that is not running.
func (m *Member) Stop() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state != stateStarted {
		return nil
	}
	m.state = stateStopped
	if err := m.stop(); err != nil {
		return fmt.Errorf("stop cluster member %q: %w", m.cfg.Name, err)
	}
	return nil
}

// Close stops the member for good. The order matters: first the client, so
// no new request reaches the server and watchers see their channels close;
// then the etcd server, which hands leadership to another voter if it can,
// closes its listeners (removing the client socket), stops raft and flushes
// its backend; then the memory files holding the peer key; last the data dir
// lock. Close is idempotent, may be called whether or not Start succeeded,
// and waits for a Start or Restart in progress, so cancel its context first.
func (m *Member) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state == stateClosed {
		return nil
	}
	m.state = stateClosed
	if err := m.stop(); err != nil {
		return fmt.Errorf("close cluster member %q: %w", m.cfg.Name, err)
	}
	return nil
}
