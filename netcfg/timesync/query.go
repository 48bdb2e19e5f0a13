package timesync

import (
	"context"
	"errors"
	"net"
	"sync"

	"github.com/beevik/ntp"
)

// errNegativeRTT rejects an answer whose timestamps cannot be right.
var errNegativeRTT = errors.New("answer implies a negative round trip")

// queryAll asks every server at once and returns their answers in order.
func (s *Syncer) queryAll(ctx context.Context, servers []string) []ServerResult {
	results := make([]ServerResult, len(servers))
	var wg sync.WaitGroup
	for i, server := range servers {
		wg.Go(func() { results[i] = s.query(ctx, server) })
	}
	wg.Wait()
	return results
}

// query asks one server, timing the exchange on the syncer's clock so the
// offset is the clock's own, whichever it is.
func (s *Syncer) query(ctx context.Context, server string) ServerResult {
	res := ServerResult{Server: server}
	r, err := ntp.QueryWithOptions(server, ntp.QueryOptions{
		Timeout:       s.timeout,
		GetSystemTime: s.clock.Now,
		Dialer:        contextDialer(ctx),
	})
	if err == nil {
		err = r.Validate()
	}
	if err == nil && r.RTT < 0 {
		err = errNegativeRTT
	}
	if err != nil {
		res.Err = err.Error()
		return res
	}
	res.Offset, res.RTT, res.Stratum = r.ClockOffset, r.RTT, r.Stratum
	return res
}

// contextDialer dials UDP under ctx (name resolution included) and closes
// the connection when ctx ends, which beevik/ntp's own dialer cannot.
func contextDialer(ctx context.Context) func(local, remote string) (net.Conn, error) {
	return func(_, remote string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "udp", remote)
		if err != nil {
			return nil, err
		}
		stop := context.AfterFunc(ctx, func() { c.Close() })
		return &ctxConn{Conn: c, stop: stop}, nil
	}
}

// ctxConn is a connection that ctx closes; Close releases that hook.
type ctxConn struct {
	net.Conn
	stop func() bool
}

// Close releases the hook on ctx and closes the connection.
func (c *ctxConn) Close() error {
	c.stop()
	return c.Conn.Close()
}
