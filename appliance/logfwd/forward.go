package logfwd

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// queueLen bounds the records waiting for the sender: at most MaxMessage
// octets each, so about 2 MiB, enough for a burst while a slow network drains.
const queueLen = 1024

// writeTimeout bounds one datagram write, so a stuck socket buffer cannot
// stall the sender (and Close) for long.
const writeTimeout = time.Second

// packet is one formatted message and where it goes. The destination travels
// with it, so records logged before a reconfiguration still reach the
// collector that was configured when they were logged.
type packet struct {
	dst  netip.AddrPort
	data []byte
}

// writer sends datagrams. The sender goroutine is its only user, so
// implementations need no locking; tests swap in one that blocks.
type writer interface {
	write(dst netip.AddrPort, b []byte) error
	close() error
}

// forwarder is the state every Handler derived from one NewHandler shares: the
// configuration, the queue and the sender goroutine.
type forwarder struct {
	tail    string                 // headerTail, fixed for the process
	target  atomic.Pointer[target] // nil while forwarding is off; read per record
	queue   chan packet            // formatted records waiting for the sender
	dropped atomic.Uint64          // records queued out or failed to send
	out     writer                 // used only by the sender goroutine
	done    chan struct{}          // closed by close to stop the sender
	wg      sync.WaitGroup         // the sender goroutine
	mu      sync.Mutex             // guards the fields below
	cfg     Config                 // as last set, for GET
	started bool                   // the sender goroutine runs
	closed  bool                   // close was called
	outErr  error                  // from out.close, set before wg.Done
}

// newForwarder returns a forwarder with forwarding off; it starts nothing.
func newForwarder(tail string, queue int, out writer) *forwarder {
	return &forwarder{
		tail:  tail,
		queue: make(chan packet, queue),
		out:   out,
		done:  make(chan struct{}),
		cfg:   DefaultConfig(),
	}
}

// set makes c, which must be valid, the configuration. The sender goroutine
// starts the first time forwarding is turned on, so a handler that never
// forwards never runs one.
func (f *forwarder) set(c Config) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return ErrClosed
	}
	t := c.target()
	if t != nil && !f.started {
		f.started = true
		f.wg.Add(1)
		go f.run()
	}
	f.cfg = c
	f.target.Store(t)
	return nil
}

// config returns the configuration last set.
func (f *forwarder) config() Config {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cfg
}

// enqueue hands p to the sender, or drops and counts it when the queue is
// full: the caller is logging and must never wait for the network.
func (f *forwarder) enqueue(p packet) {
	select {
	case f.queue <- p:
	default:
		f.dropped.Add(1)
	}
}

// run is the sender goroutine: it sends queued packets until close, then
// sends what is already queued and closes the writer.
func (f *forwarder) run() {
	defer f.wg.Done()
	for {
		select {
		case p := <-f.queue:
			f.send(p)
		case <-f.done:
			f.drain()
			f.outErr = f.out.close()
			return
		}
	}
}

// drain sends the packets queued at shutdown without waiting for more.
func (f *forwarder) drain() {
	for {
		select {
		case p := <-f.queue:
			f.send(p)
		default:
			return
		}
	}
}

// send writes p, counting a failure as a drop.
func (f *forwarder) send(p packet) {
	if err := f.out.write(p.dst, p.data); err != nil {
		f.dropped.Add(1)
	}
}

// close turns forwarding off and stops the sender after it has sent what was
// queued. It is idempotent; only the first call reports the writer's error.
func (f *forwarder) close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	f.target.Store(nil)
	started := f.started
	f.mu.Unlock()
	if !started {
		return nil
	}
	close(f.done)
	f.wg.Wait()
	return f.outErr
}

// udpWriter sends datagrams from an unconnected UDP socket, opened on first
// use and reopened when the destination's address family changes.
// Unconnected, because a connected socket reports an ICMP "port unreachable"
// for one datagram as a failure of the next one.
type udpWriter struct {
	conn *net.UDPConn
	v4   bool
}

// write sends b to dst.
func (w *udpWriter) write(dst netip.AddrPort, b []byte) error {
	v4 := dst.Addr().Is4()
	if w.conn == nil || w.v4 != v4 {
		if err := w.open(v4); err != nil {
			return err
		}
	}
	if err := w.conn.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return fmt.Errorf("logfwd: set write deadline: %w", err)
	}
	if _, err := w.conn.WriteToUDPAddrPort(b, dst); err != nil {
		return fmt.Errorf("logfwd: send to %s: %w", dst, err)
	}
	return nil
}

// open replaces the socket with one of the family v4 selects.
func (w *udpWriter) open(v4 bool) error {
	_ = w.close() // a failed close of a UDP socket leaves nothing to clean up
	network := "udp6"
	if v4 {
		network = "udp4"
	}
	conn, err := net.ListenUDP(network, nil)
	if err != nil {
		return fmt.Errorf("logfwd: open %s socket: %w", network, err)
	}
	w.conn, w.v4 = conn, v4
	return nil
}

// close closes the socket, if any.
func (w *udpWriter) close() error {
	if w.conn == nil {
		return nil
	}
	err := w.conn.Close()
	w.conn = nil
	if err != nil {
		return fmt.Errorf("logfwd: close socket: %w", err)
	}
	return nil
}
