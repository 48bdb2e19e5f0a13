package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
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

// start starts the member with m.cfg, for Start and Restart; m.mu must be
// held and nothing may run. On failure it releases what it acquired, and
// undoes a join.
func (m *Member) start(ctx context.Context) (err error) {
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
	if err := checkMemberData(m.cfg); err != nil {
		return err
	}
	if m.cfg.Join {
		if err := m.probePeers(ctx); err != nil {
			return err
		}
		joining = true
	}
	ready, err := m.startServer(ctx)
	if err != nil {
		return err
	}
	return m.connect(ctx, ready)
}

// startServer starts etcd and waits until it serves (see awaitServing),
// reporting whether it does.
func (m *Member) startServer(ctx context.Context) (ready bool, err error) {
	if m.cfg.PeerTLS != nil {
		if m.peerFiles, err = writePeerFiles(*m.cfg.PeerTLS); err != nil {
			return false, err
		}
	}
	ec := etcdConfig(m.cfg, m.socket, m.peerFiles, m.logs.zapLogger("etcd"))
	if m.etcd, err = embed.StartEtcd(ec); err != nil {
		return false, fmt.Errorf("start etcd: %w", err)
	}
	// net.Listen honours the umask; only the daemon's user may connect.
	if err := os.Chmod(m.socket, 0o600); err != nil {
		return false, fmt.Errorf("restrict client socket: %w", err)
	}
	return m.awaitServing(ctx)
}

// awaitServing waits until etcd serves, or fails, except for a member that
// may start without quorum and has peers: that returns at once, and reports
// whether etcd already serves.
func (m *Member) awaitServing(ctx context.Context) (ready bool, err error) {
	if m.mayServeLater() {
		select {
		case <-m.etcd.Server.ReadyNotify():
			return true, nil
		default:
			return false, nil
		}
	}
	select {
	case <-m.etcd.Server.ReadyNotify():
		return true, nil
	case err := <-m.etcd.Err():
		return false, fmt.Errorf("etcd failed while starting: %w", err)
	case <-m.etcd.Server.StopNotify():
		return false, errors.New("etcd stopped while starting")
	case <-ctx.Done():
		return false, fmt.Errorf("wait for etcd to serve: %w", ctx.Err())
	}
}

// mayServeLater reports whether Start may return before etcd has quorum:
// only with StartWithoutQuorum, and only for a member with peers. A member
// alone in its cluster is its own quorum, and so is one forced into a new
// cluster (whose record may still list the lost members until etcd has
// applied their removal).
func (m *Member) mayServeLater() bool {
	return m.cfg.StartWithoutQuorum && !m.cfg.ForceNewCluster &&
		len(m.etcd.Server.Cluster().Members()) > 1
}

// connect creates the client and, once etcd serves, hands it to the store;
// for a member that founded its cluster it brings the recorded peer URL up
// to date. The client does not dial before its first call, so creating it
// before etcd serves costs nothing.
func (m *Member) connect(ctx context.Context, ready bool) (err error) {
	if m.client, err = m.newClient(); err != nil {
		return err
	}
	m.id.Store(uint64(m.etcd.Server.MemberID()))
	if ready {
		m.kv.client.Store(m.client)
	} else {
		m.logs.log.Warn("cluster member started without quorum; the store serves once enough peers answer")
		m.kv.waiting.Store(true)
	}
	m.watch.Store(watchServer(m.etcd, m.client, m.kv, m.logs.log))
	if !m.cfg.Join {
		if err := m.adoptPeerURL(ctx, ready); err != nil {
			return err
		}
	}
	m.state = stateStarted
	// Once etcd runs, the data dir records how it was bootstrapped.
	m.cfgMu.Lock()
	m.cfg.Join, m.cfg.InitialCluster, m.cfg.ForceNewCluster = false, nil, false
	m.cfgMu.Unlock()
	return nil
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

// serverWatch is a goroutine that keeps a member's store in step with its
// etcd server while the member runs: it hands the client to the store once
// etcd serves, so that a member started without quorum serves from then on
// by itself, and takes it back if etcd stops by itself (the member was
// removed from its cluster, or etcd failed), so that the store then fails at
// once instead of waiting for a server that is gone.
type serverWatch struct {
	stop chan struct{} // closed to end the watch
	done chan struct{} // closed when the goroutine has ended
	// stoppedItself is set, before done is closed, when etcd stopped
	// without being asked to.
	stoppedItself bool
}

// watchServer starts watching e for the store kv, which is to use c.
func watchServer(e *embed.Etcd, c *clientv3.Client, kv *etcdKV, log *slog.Logger) *serverWatch {
	w := &serverWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		select {
		case <-e.Server.ReadyNotify():
			if kv.client.Swap(c) == nil {
				log.Info("cluster member reached quorum; the store serves")
			}
		case <-e.Server.StopNotify():
		case <-w.stop:
			return
		}
		kv.waiting.Store(false)
		select {
		case <-e.Server.StopNotify():
			kv.client.Store(nil)
			w.stoppedItself = true
			log.Warn("etcd stopped by itself; the store serves again once the member is restarted")
		case <-w.stop:
		}
	}()
	return w
}

// end stops the goroutine and waits for it.
func (w *serverWatch) end() {
	close(w.stop)
	<-w.done
}

// awaitStoppedItself reports whether etcd stops by itself within wait (or
// before ctx ends), rather than being stopped by the Member or running on.
func (w *serverWatch) awaitStoppedItself(ctx context.Context, wait time.Duration) bool {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-w.done:
		return w.stoppedItself
	case <-timer.C:
		return false
	case <-ctx.Done():
		return false
	}
}

// stop releases whatever start acquired, in Close's order. m.mu must be held.
func (m *Member) stop() error {
	var errs []error
	m.logs.quiet.Store(true)
	if w := m.watch.Swap(nil); w != nil {
		// Before the store's client is cleared, so it cannot come back.
		w.end()
	}
	m.kv.waiting.Store(false)
	m.kv.client.Store(nil)
	if m.client != nil {
		if err := m.client.Close(); err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, fmt.Errorf("close etcd client: %w", err))
		}
		m.client = nil
	}
	if m.etcd != nil {
		closeEtcd(m.etcd)
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

// handoffBound is how long closing a leader may spend handing leadership to
// a peer. etcd waits up to its request timeout (7 s with the default
// election timeout) when the peer it picked has just died or quorum is gone,
// which would break the appliance's promise to stop within 5 s of SIGTERM;
// a handoff to a live peer takes milliseconds.
const handoffBound = 1500 * time.Millisecond

// closeEtcd closes e, giving up a leadership handoff that does not finish
// within handoffBound: the peers then elect a leader by themselves, as after
// a crash.
func closeEtcd(e *embed.Etcd) {
	done := make(chan struct{})
	go func() {
		e.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(handoffBound):
		e.Server.HardStop() // ends the handoff; Close then finishes
		<-done
	}
}
