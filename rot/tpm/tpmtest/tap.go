package tpmtest

import (
	"bytes"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
)

// Tap puts a recording proxy in front of a "tcp:" device and returns the
// proxy's device string and a function returning every byte exchanged so
// far in either direction, for tests that check what crosses the bus.
// The proxy stops when the test ends.
func Tap(t testing.TB, device string) (proxied string, traffic func() []byte) {
	t.Helper()
	upstream, ok := strings.CutPrefix(device, "tcp:")
	if !ok {
		t.Fatalf("tpmtest: Tap needs a tcp: device, got %q", device)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("tpmtest: tap: %v", err)
	}
	rec := &recorder{}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); rec.closeAll(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { rec.relay(c, upstream) })
		}
	})
	return "tcp:" + l.Addr().String(), rec.bytes
}

// recorder copies connections to their upstream and keeps what passed.
type recorder struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	conns []net.Conn
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.Write(p)
}

func (r *recorder) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.buf.Bytes())
}

func (r *recorder) track(c net.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.conns = append(r.conns, c)
}

func (r *recorder) closeAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.conns {
		c.Close()
	}
}

// relay copies c to and from a new connection to upstream until either
// side closes.
func (r *recorder) relay(c net.Conn, upstream string) {
	r.track(c)
	defer c.Close()
	u, err := net.Dial("tcp", upstream)
	if err != nil {
		return
	}
	r.track(u)
	defer u.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(io.MultiWriter(u, r), c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(io.MultiWriter(c, r), u); done <- struct{}{} }()
	<-done
}
