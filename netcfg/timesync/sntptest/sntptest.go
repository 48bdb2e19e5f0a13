// Package sntptest runs real SNTP servers on 127.0.0.1 for tests: each
// answers NTPv4 client packets over UDP as a stratum 2 server would, with a
// clock that runs a chosen offset from the host's.
package sntptest

import (
	"encoding/binary"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// ntpEpochOffset is the seconds from 1900, the NTP epoch, to 1970.
const ntpEpochOffset = 2208988800

// Server is one SNTP server.
type Server struct {
	conn   *net.UDPConn
	offset time.Duration
	// Silent makes the server read queries but never answer.
	Silent atomic.Bool
	// Queries counts the client packets it received.
	Queries atomic.Int32
}

// Start starts a server whose clock runs offset ahead of the host's; it
// stops when the test ends.
func Start(t testing.TB, offset time.Duration) *Server {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := &Server{conn: conn, offset: offset}
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

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.conn.LocalAddr().String() }

// serve answers until the connection closes.
func (s *Server) serve() {
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
		s.Queries.Add(1)
		if s.Silent.Load() {
			continue
		}
		_, _ = s.conn.WriteToUDP(s.reply(buf[:48], received), from)
	}
}

// reply is the server packet answering query, received at received.
func (s *Server) reply(query []byte, received time.Time) []byte {
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
