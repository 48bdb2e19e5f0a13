package logfwd_test

import (
	"bytes"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/keywarden/keywarden/appliance/logfwd"
)

// recvTimeout bounds a wait for a datagram on loopback; a passing test waits
// microseconds.
const recvTimeout = 3 * time.Second

// collector is a UDP syslog receiver on 127.0.0.1, closed at test cleanup.
type collector struct {
	conn *net.UDPConn
}

// listen starts a collector on a free port of 127.0.0.1.
func listen(t *testing.T) *collector {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return &collector{conn: conn}
}

// listen6 starts a collector on a free port of ::1, skipping the test on a
// host without IPv6.
func listen6(t *testing.T) *collector {
	t.Helper()
	conn, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return &collector{conn: conn}
}

// config returns a configuration forwarding to c at level.
func (c *collector) config(level string) logfwd.Config {
	ap := c.conn.LocalAddr().(*net.UDPAddr).AddrPort()
	return logfwd.Config{IPAddress: ap.Addr().String(), Port: int(ap.Port()), LogLevel: level}
}

// next returns the next datagram, parsed strictly, failing the test when none
// arrives in time or it is not RFC 5424.
func (c *collector) next(t *testing.T) logfwd.Message {
	t.Helper()
	if err := c.conn.SetReadDeadline(time.Now().Add(recvTimeout)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	n, err := c.conn.Read(buf)
	if err != nil {
		t.Fatalf("receive a syslog datagram: %v", err)
	}
	m, err := logfwd.ParseMessage(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// syncBuffer is the next handler's output, read while loggers write.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newHandler returns a Handler in front of a debug-level JSON handler, as the
// daemon's stderr log, closed at test cleanup.
func newHandler(t *testing.T) (*logfwd.Handler, *syncBuffer) {
	t.Helper()
	out := &syncBuffer{}
	h := logfwd.NewHandler(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}), "hsm-1.example", "keywardend")
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h, out
}

// setConfig sets c or fails the test.
func setConfig(t *testing.T, h *logfwd.Handler, c logfwd.Config) {
	t.Helper()
	if err := h.SetConfig(c); err != nil {
		t.Fatalf("SetConfig(%+v): %v", c, err)
	}
}
