package timesync

import (
	"encoding/binary"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ntpEpochOffset is the seconds from 1900, the NTP epoch, to 1970.
const ntpEpochOffset = 2208988800

// sntpServer is a real SNTP server on 127.0.0.1 whose clock is the host's
// plus a chosen offset: it answers NTPv4 client packets over UDP as a
// stratum 2 server would.
type sntpServer struct {
	conn    *net.UDPConn
	offset  time.Duration
	silent  atomic.Bool // read queries but never answer
	queries atomic.Int32
}

// startSNTP starts a server whose clock runs offset ahead of the host's; it
// stops when the test ends.
func startSNTP(t *testing.T, offset time.Duration) *sntpServer {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := &sntpServer{conn: conn, offset: offset}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.serve()
	}()
	t.Cleanup(func() {
		conn.Close()
		<-done
	})
	return s
}

// addr is the server's host:port.
func (s *sntpServer) addr() string { return s.conn.LocalAddr().String() }

// serve answers until the connection closes.
func (s *sntpServer) serve() {
	buf := make([]byte, 1024)
	for {
		n, from, err := s.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		received := time.Now().Add(s.offset)
		if n < 48 || buf[0]&7 != 3 { // mode 3: client
			continue
		}
		s.queries.Add(1)
		if s.silent.Load() {
			continue
		}
		_, _ = s.conn.WriteToUDP(s.reply(buf[:48], received), from)
	}
}

// reply is the server packet answering query, received at received.
func (s *sntpServer) reply(query []byte, received time.Time) []byte {
	p := make([]byte, 48)
	p[0] = 0<<6 | 4<<3 | 4                         // no leap warning, version 4, mode 4: server
	p[1] = 2                                       // stratum
	p[2] = query[2]                                // poll, echoed
	p[3] = 0xec                                    // precision 2^-20 s
	binary.BigEndian.PutUint32(p[4:], 1<<8)        // root delay, 16.16 s
	binary.BigEndian.PutUint32(p[8:], 1<<8)        // root dispersion
	copy(p[12:16], []byte{127, 0, 0, 1})           // reference ID
	putNTPTime(p[16:], received.Add(-time.Second)) // reference time
	copy(p[24:32], query[40:48])                   // origin: the client's transmit time
	putNTPTime(p[32:], received)
	putNTPTime(p[40:], time.Now().Add(s.offset))
	return p
}

// putNTPTime writes t as a 64-bit NTP timestamp.
func putNTPTime(b []byte, t time.Time) {
	secs := uint64(t.Unix() + ntpEpochOffset)
	frac := uint64(t.Nanosecond()) << 32 / uint64(time.Second)
	binary.BigEndian.PutUint64(b, secs<<32|frac)
}

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
func addrs(servers ...*sntpServer) []string {
	var out []string
	for _, s := range servers {
		out = append(out, s.addr())
	}
	return out
}
