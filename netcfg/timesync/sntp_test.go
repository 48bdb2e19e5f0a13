package timesync

import (
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/keywarden/keywarden/netcfg/timesync/sntptest"
)

// startSNTP starts a real SNTP server whose clock runs offset ahead of the
// host's.
func startSNTP(t *testing.T, offset time.Duration) *sntptest.Server { return sntptest.Start(t, offset) }

// closedPort is a 127.0.0.1 address where nothing listens, so a query
// there is refused at once.
func closedPort(t *testing.T) string {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := conn.LocalAddr().String()
	conn.Close()
	return addr
}

// recordingClock is an OffsetClock that records the corrections asked of
// it: a test double of the clock only, so no test touches the host's.
type recordingClock struct {
	*OffsetClock
	mu           sync.Mutex
	steps, slews []time.Duration
}

func newRecordingClock() *recordingClock {
	return &recordingClock{OffsetClock: NewOffsetClock(0)}
}

func (c *recordingClock) Step(d time.Duration) error {
	c.mu.Lock()
	c.steps = append(c.steps, d)
	c.mu.Unlock()
	return c.OffsetClock.Step(d)
}

func (c *recordingClock) Slew(d time.Duration) error {
	c.mu.Lock()
	c.slews = append(c.slews, d)
	c.mu.Unlock()
	return c.OffsetClock.Slew(d)
}

// calls returns the corrections so far.
func (c *recordingClock) calls() (steps, slews []time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.steps...), append([]time.Duration(nil), c.slews...)
}

// newTestSyncer returns a syncer for clock with NTP enabled on servers and a
// short query timeout.
func newTestSyncer(t *testing.T, clock Clock, servers ...string) *Syncer {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := NewSyncer(clock, log)
	s.timeout = 500 * time.Millisecond
	s.SetConfig(Config{Servers: servers, Enabled: true})
	return s
}

// addrs returns the servers' addresses.
func addrs(servers ...*sntptest.Server) []string {
	var out []string
	for _, s := range servers {
		out = append(out, s.Addr())
	}
	return out
}
