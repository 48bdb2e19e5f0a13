package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
)

const (
	// lockFileName guards the data dir against a second member: etcd would
	// otherwise replace the running member's client socket before noticing
	// its WAL is locked.
	lockFileName = "member.lock"

	// dialTimeout bounds connecting the client to the local socket; the
	// server is already serving when the client is created.
	dialTimeout = 5 * time.Second
)

// memberState is where a Member is in its lifecycle.
type memberState int

const (
	stateNew memberState = iota
	stateStarted
	stateClosed
)

// Member is one embedded etcd member and the daemon's client of it.
type Member struct {
	cfg    Config
	socket string        // absolute path of the client socket
	peerID *peerIdentity // parsed cfg.PeerTLS; nil without
	logs   *logSink
	kv     *etcdKV
	id     atomic.Uint64 // etcd's member ID, known once started

	mu        sync.Mutex // serialises Start and Close
	state     memberState
	lock      *os.File
	peerFiles *peerFiles
	etcd      *embed.Etcd
	client    *clientv3.Client
}

// New validates cfg and returns a Member that has not started anything.
func New(cfg Config) (*Member, error) {
	peerID, err := cfg.check()
	if err != nil {
		return nil, err
	}
	socket, err := socketPath(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("resolve client socket path: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Member{
		cfg:    cfg,
		socket: socket,
		peerID: peerID,
		logs:   &logSink{log: log},
		kv:     &etcdKV{timeout: callTimeout},
	}, nil
}

// DataDir returns the directory holding the member's data and client socket.
func (m *Member) DataDir() string { return m.cfg.DataDir }

// ID returns etcd's ID of this member, or 0 before it first started.
func (m *Member) ID() uint64 { return m.id.Load() }

// PeerURL returns the URL this member advertises to its peers: the one to
// register it with (AddLearner) and to list in InitialCluster.
func (m *Member) PeerURL() string { return m.cfg.peerURL() }

// KV returns the store served by this member. Calls made before Start
// succeeds or after Close fail with an error wrapping ErrUnavailable.
func (m *Member) KV() KV { return m.kv }

// RecentLogs returns etcd's most recent warnings and errors, oldest first.
func (m *Member) RecentLogs() []LogRecord { return m.logs.ring.records() }

// Start starts etcd and returns once it serves requests, or when ctx ends.
// A member of a cluster serves only once it has quorum, so Start blocks until
// then; a joining member returns once it has caught up with the cluster, as a
// learner. A lone member moves its recorded peer URL onto the one it now
// advertises (see adoptPeerURL).
//
// On any failure Start stops everything it started, and a failed join also
// removes the member data it created; a failed Start may be retried. A join
// fails with an error wrapping ErrHasMemberData when the data dir already
// holds a member, ErrPeerTLS when the cluster and this member refuse each
// other's certificates, or ErrUnavailable when no member answers.
func (m *Member) Start(ctx context.Context) (err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch m.state {
	case stateStarted:
		return errors.New("start cluster member: already started")
	case stateClosed:
		return errors.New("start cluster member: member is closed")
	}
	joining := false
	defer func() {
		if err != nil {
			// stop first: etcd must be gone before its files are.
			err = errors.Join(fmt.Errorf("start cluster member %q: %w", m.cfg.Name, err), m.stop(), m.undoJoin(joining))
		}
	}()
	m.logs.quiet.Store(false)
	if err := prepareDataDir(m.cfg.DataDir); err != nil {
		return err
	}
	if m.lock, err = lockDataDir(m.cfg.DataDir); err != nil {
		return err
	}
	if m.cfg.Join {
		if err := m.checkJoin(ctx); err != nil {
			return err
		}
		joining = true
	}
	if err := m.startServer(ctx); err != nil {
		return err
	}
	return m.connect(ctx)
}

// connect creates the client and, for a member that founded its cluster,
// brings its recorded peer URL up to date.
func (m *Member) connect(ctx context.Context) (err error) {
	if m.client, err = m.newClient(); err != nil {
		return err
	}
	m.kv.client.Store(m.client)
	m.id.Store(uint64(m.etcd.Server.MemberID()))
	if !m.cfg.Join {
		if err := m.adoptPeerURL(ctx); err != nil {
			return err
		}
	}
	m.state = stateStarted
	return nil
}

// startServer starts etcd and waits until it serves.
func (m *Member) startServer(ctx context.Context) error {
	var err error
	if m.cfg.PeerTLS != nil {
		if m.peerFiles, err = writePeerFiles(*m.cfg.PeerTLS); err != nil {
			return err
		}
	}
	ec := etcdConfig(m.cfg, m.socket, m.peerFiles, m.logs.zapLogger("etcd"))
	if m.etcd, err = embed.StartEtcd(ec); err != nil {
		return fmt.Errorf("start etcd: %w", err)
	}
	// net.Listen honours the umask; only the daemon's user may connect.
	if err := os.Chmod(m.socket, 0o600); err != nil {
		return fmt.Errorf("restrict client socket: %w", err)
	}
	select {
	case <-m.etcd.Server.ReadyNotify():
		return nil
	case err := <-m.etcd.Err():
		return fmt.Errorf("etcd failed while starting: %w", err)
	case <-m.etcd.Server.StopNotify():
		return errors.New("etcd stopped while starting")
	case <-ctx.Done():
		return fmt.Errorf("wait for etcd to serve: %w", ctx.Err())
	}
}

func (m *Member) newClient() (*clientv3.Client, error) {
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{"unix://" + m.socket},
		DialTimeout: dialTimeout,
		Logger:      m.logs.zapLogger("etcd-client"),
	})
	if err != nil {
		return nil, fmt.Errorf("connect etcd client: %w", err)
	}
	return c, nil
}

// Close stops the member. The order matters: first the client, so no new
// request reaches the server and watchers see their channels close; then the
// etcd server, which hands leadership to another voter if it can, closes its
// listeners (removing the client socket), stops raft and flushes its
// backend; then the memory files holding the peer key; last the data dir
// lock. Close is idempotent,
// may be called whether or not Start succeeded, and waits for a Start in
// progress, so cancel Start's context first.
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

// stop releases whatever Start acquired, in Close's order. m.mu must be held.
func (m *Member) stop() error {
	var errs []error
	m.logs.quiet.Store(true)
	m.kv.client.Store(nil)
	if m.client != nil {
		if err := m.client.Close(); err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, fmt.Errorf("close etcd client: %w", err))
		}
		m.client = nil
	}
	if m.etcd != nil {
		m.etcd.Close()
		m.etcd = nil
	}
	if m.peerFiles != nil {
		m.peerFiles.close()
		m.peerFiles = nil
	}
	if m.lock != nil {
		if err := m.lock.Close(); err != nil {
			errs = append(errs, fmt.Errorf("release data dir lock: %w", err))
		}
		m.lock = nil
	}
	return errors.Join(errs...)
}

// prepareDataDir creates dir or makes an existing one private: it holds the
// whole store and the socket that grants access to it.
func prepareDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("restrict data dir: %w", err)
	}
	return nil
}

// lockDataDir takes an exclusive lock on dir that lasts until the returned
// file is closed (also when the process dies).
func lockDataDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFileName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open data dir lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data dir %q is in use by another member", dir)
		}
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	return f, nil
}
