package netcfg

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// DefaultResync is how often Run compares the kernel with the desired
// config even when no netlink update arrived: updates can be lost (a full
// socket buffer), and a missed one must not leave the appliance unreachable
// for long.
const DefaultResync = 30 * time.Second

// Manager keeps one network interface at a desired configuration. Until the
// first Apply or Try it has no desired configuration and leaves the
// interface alone. From then on it owns, on that interface, exactly:
//
//   - every address of global scope that is permanent (has no lifetime).
//     Not the link-local fe80::/10 address, not host-scope addresses, and
//     not addresses that something else leases and renews, such as those the
//     kernel autoconfigures from IPv6 router advertisements (SLAAC):
//     deleting them would start a tug of war with whatever renews them;
//   - every default route (0.0.0.0/0, ::/0) of the main routing table whose
//     outgoing interface is this one, except those the kernel learns from
//     router advertisements (proto ra), for the same reason. Routes of other
//     interfaces or tables, and the connected and local routes the kernel
//     derives from addresses, are not its own;
//   - the link's administrative state, which it keeps up.
//
// "Exactly" means it deletes what it owns that the config does not name and
// adds what is missing; the routes it adds say proto static.
//
// NewManager starts nothing; Run watches for drift until its context ends;
// Close releases the netlink socket. All methods are safe for concurrent
// use; kernel changes are serialised.
type Manager struct {
	iface  string
	log    *slog.Logger
	ns     *netns.NsHandle
	resync time.Duration
	watch  bool // subscribe to netlink updates; off only in tests of the resync

	// index is the interface's last seen index, read by the update
	// filters without taking mu.
	index atomic.Int32
	done  chan struct{} // closed by Close

	mu      sync.Mutex
	h       *netlink.Handle
	desired *spec       // nil until the first Apply or Try
	try     *pendingTry // nil unless a Try awaits confirmation
	closed  bool
}

// Option adjusts a Manager at construction.
type Option func(*Manager)

// InNamespace makes the Manager work on an interface in network namespace
// ns instead of the caller's. The caller keeps ns open while the Manager
// lives. Tests use it to stay away from the host's interfaces.
func InNamespace(ns netns.NsHandle) Option {
	return func(m *Manager) { m.ns = &ns }
}

// ResyncEvery sets how often Run rereads the kernel without being woken by
// an update (default DefaultResync).
func ResyncEvery(d time.Duration) Option {
	return func(m *Manager) {
		if d > 0 {
			m.resync = d
		}
	}
}

// NewManager returns a Manager for interface iface, which must exist (the
// error wraps ErrNoInterface otherwise). A nil log discards messages.
func NewManager(iface string, log *slog.Logger, opts ...Option) (*Manager, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Manager{
		iface:  iface,
		log:    log.With("interface", iface),
		resync: DefaultResync,
		watch:  true,
		done:   make(chan struct{}),
	}
	for _, o := range opts {
		o(m)
	}
	var err error
	if m.ns != nil {
		m.h, err = netlink.NewHandleAt(*m.ns)
	} else {
		m.h, err = netlink.NewHandle()
	}
	if err != nil {
		return nil, fmt.Errorf("open netlink socket: %w", err)
	}
	link, err := m.h.LinkByName(iface)
	if err != nil {
		m.h.Close()
		return nil, linkError(iface, err)
	}
	m.index.Store(int32(link.Attrs().Index))
	return m, nil
}

// Apply validates c and makes it the desired config: the Manager makes the
// kernel match it exactly (deleting the managed addresses and default
// routes c does not name, adding the missing ones, setting the link up),
// and Run keeps it so. An invalid c returns an error wrapping ErrInvalid
// before anything changes. Apply settles a pending Try: c is definite.
//
// When the kernel refuses a change, Apply returns the error, c stays the
// desired config and Run keeps trying.
func (m *Manager) Apply(ctx context.Context, c Config) error {
	s, err := c.parse()
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.dropTry()
	m.desired = &s
	changes, err := m.reconcile(ctx, s)
	if err != nil {
		m.log.Warn("network config only partly applied; Run keeps trying", "config", s.config(), "changes", changes, "err", err)
		return fmt.Errorf("apply network config to %s: %w", m.iface, err)
	}
	m.log.Info("applied network config", "config", s.config(), "changes", changes)
	return nil
}

// Current reads the config back from the kernel: the first managed address
// and default route of each family (exactly one of each after Apply). It
// shows what the interface really has, which differs from Desired while
// drift awaits repair.
func (m *Manager) Current(ctx context.Context) (Config, error) {
	if err := ctx.Err(); err != nil {
		return Config{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Config{}, ErrClosed
	}
	st, err := m.read()
	if err != nil {
		return Config{}, err
	}
	return st.spec().config(), nil
}

// Desired returns the config the Manager enforces (a pending Try's while it
// runs), canonically spelled, and false before the first Apply or Try.
func (m *Manager) Desired() (Config, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.desired == nil {
		return Config{}, false
	}
	return m.desired.config(), true
}

// Close stops a pending Try's timer (leaving its config in place; the caller
// persists only confirmed configs, so the next start applies the confirmed
// one), makes Run return, and closes the netlink socket. The kernel keeps
// the config. Close is idempotent.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	close(m.done)
	m.dropTry()
	m.h.Close()
	return nil
}
