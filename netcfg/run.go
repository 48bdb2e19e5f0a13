package netcfg

import (
	"context"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
)

// settle is how long Run waits after a netlink update before it reconciles,
// so that a burst of updates (a flush, or our own changes echoing back)
// costs one reconcile, not one each.
const settle = 50 * time.Millisecond

// Run keeps the interface at the desired config until ctx ends (it then
// returns nil) or the Manager is closed (ErrClosed). It reconciles at once,
// whenever netlink reports a change to the interface's link, addresses or
// routes, and every resync interval regardless; it logs every repair. A
// lost netlink subscription is logged and renewed; the periodic resync
// covers the gap. Run changes nothing before the first Apply or Try.
func (m *Manager) Run(ctx context.Context) error {
	select {
	case <-m.done:
		return ErrClosed
	default:
	}
	sub := m.subscribe()
	defer func() { sub.stop() }()
	tick := time.NewTicker(m.resync)
	defer tick.Stop()
	m.repair(ctx, "start")
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-m.done:
			return ErrClosed
		case <-tick.C:
			if sub == nil {
				sub = m.subscribe()
			}
			m.repair(ctx, "periodic resync")
		case <-sub.kicked():
			if !sleep(ctx, settle) {
				return nil
			}
			sub.drain()
			m.repair(ctx, "netlink update")
		case <-sub.ended():
			m.log.Warn("netlink update subscription ended; renewing it")
			sub.stop()
			sub = m.subscribe()
			m.repair(ctx, "netlink resubscribe")
		}
	}
}

// repair reconciles the kernel with the desired config and logs what it
// had to change: anything it changes is drift someone else caused.
func (m *Manager) repair(ctx context.Context, trigger string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || m.desired == nil {
		return
	}
	changes, err := m.reconcile(ctx, *m.desired)
	if len(changes) > 0 {
		m.log.Warn("repaired network config drift", "trigger", trigger, "changes", changes)
	}
	if err != nil && ctx.Err() == nil {
		m.log.Error("repair network config", "trigger", trigger, "err", err)
	}
}

// sleep waits for d or until ctx ends, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// subscription is the Manager's three netlink update subscriptions (link,
// address, route), boiled down to "something about our interface changed".
// A nil *subscription is valid: it never fires.
type subscription struct {
	done     chan struct{} // closing it makes netlink close the sockets
	kick     chan struct{} // one pending wake-up, coalescing bursts
	end      chan struct{} // closed when any of the three ends
	endOnce  sync.Once
	stopOnce sync.Once
	wg       sync.WaitGroup // the forwarding goroutines
}

// subscribe opens the three subscriptions, or returns nil and logs why not.
func (m *Manager) subscribe() *subscription {
	if !m.watch {
		return nil
	}
	s := &subscription{done: make(chan struct{}), kick: make(chan struct{}, 1), end: make(chan struct{})}
	links := make(chan netlink.LinkUpdate)
	addrs := make(chan netlink.AddrUpdate)
	routes := make(chan netlink.RouteUpdate)
	onErr := func(err error) { m.log.Warn("netlink update subscription", "err", err) }
	err := netlink.LinkSubscribeWithOptions(links, s.done, netlink.LinkSubscribeOptions{Namespace: m.ns, ErrorCallback: onErr})
	if err == nil {
		forward(s, links, func(u netlink.LinkUpdate) bool {
			return u.Attrs().Index == m.ifindex() || u.Attrs().Name == m.iface
		})
		err = netlink.AddrSubscribeWithOptions(addrs, s.done, netlink.AddrSubscribeOptions{Namespace: m.ns, ErrorCallback: onErr})
	}
	if err == nil {
		forward(s, addrs, func(u netlink.AddrUpdate) bool { return u.LinkIndex == m.ifindex() })
		err = netlink.RouteSubscribeWithOptions(routes, s.done, netlink.RouteSubscribeOptions{Namespace: m.ns, ErrorCallback: onErr})
	}
	if err == nil {
		forward(s, routes, func(u netlink.RouteUpdate) bool { return u.LinkIndex == m.ifindex() })
		return s
	}
	m.log.Error("subscribe to netlink updates; relying on the periodic resync", "err", err, "resync", m.resync)
	s.stop()
	return nil
}

// ifindex is the interface's last seen index.
func (m *Manager) ifindex() int { return int(m.index.Load()) }

// forward turns the updates on ch that concern us into kicks, until netlink
// closes ch, and then reports the end.
func forward[T any](s *subscription, ch <-chan T, ours func(T) bool) {
	s.wg.Go(func() {
		for u := range ch {
			if ours(u) {
				select {
				case s.kick <- struct{}{}:
				default:
				}
			}
		}
		s.endOnce.Do(func() { close(s.end) })
	})
}

// kicked fires when an update concerned our interface.
func (s *subscription) kicked() <-chan struct{} {
	if s == nil {
		return nil
	}
	return s.kick
}

// ended fires when a subscription ended (its socket failed, typically on
// a receive buffer overflow).
func (s *subscription) ended() <-chan struct{} {
	if s == nil {
		return nil
	}
	return s.end
}

// drain forgets a kick that came in while Run waited to reconcile anyway.
func (s *subscription) drain() {
	select {
	case <-s.kick:
	default:
	}
}

// stop closes the sockets and waits for the forwarders, which drain their
// channels until netlink closes them, so no netlink goroutine is left
// blocked on a send. Safe on nil and more than once.
func (s *subscription) stop() {
	if s == nil {
		return
	}
	s.stopOnce.Do(func() { close(s.done) })
	s.wg.Wait()
}
