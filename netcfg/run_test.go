package netcfg

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/keywarden/keywarden/netcfg/netcfgtest"
	"github.com/vishvananda/netlink"
)

// vandalise undoes base on kwapp0 behind the Manager's back, the way an
// operator with a shell (or a buggy tool) might.
func vandalise(t *testing.T, tb *testbed) {
	t.Helper()
	link := tb.link(t)
	addr, _ := netlink.ParseAddr("192.0.2.1/24")
	if err := tb.h.AddrDel(link, addr); err != nil {
		t.Fatalf("delete address by hand: %v", err)
	}
	if err := tb.h.RouteDel(&netlink.Route{LinkIndex: link.Attrs().Index, Gw: net.ParseIP("fc00::2")}); err != nil {
		t.Fatalf("delete IPv6 default route by hand: %v", err)
	}
	netcfgtest.AddAddr(t, tb.app, iface, "203.0.113.9/24")
}

// TestRunRepairsDrift: with the periodic resync out of the picture, netlink
// updates alone make Run restore the config within a bound, and it logs what
// it repaired.
func TestRunRepairsDrift(t *testing.T) {
	t.Parallel()
	tb := newTestbed(t, ResyncEvery(time.Hour))
	tb.apply(t, base)
	tb.run(t)

	// The first repair may come from Run's start-up pass; once it has
	// happened, Run is subscribed, so the second one is the updates' doing.
	for range 2 {
		vandalise(t, tb)
		start := time.Now()
		tb.waitState(t, base)
		t.Logf("repaired in %v", time.Since(start))
	}

	if err := tb.h.LinkSetDown(tb.link(t)); err != nil {
		t.Fatalf("set kwapp0 down by hand: %v", err)
	}
	netcfgtest.Eventually(t, limit, func() string {
		if tb.link(t).Attrs().Flags&net.FlagUp == 0 {
			return "kwapp0 still down"
		}
		return ""
	})
	tb.waitState(t, base) // a down link loses its IPv6 address and routes
	netcfgtest.Echo(t, tb.app, addrPort("192.0.2.1"), limit)
	netcfgtest.WaitRoundTrip(t, tb.lan, addrPort("192.0.2.1"), limit)

	// A repair is logged once it is complete, which can be a moment after
	// the kernel shows its result.
	tb.waitLogs(t, "repaired network config drift", "added address 192.0.2.1/24", "deleted address 203.0.113.9/24",
		"added default route via fc00::2", "set link up")
}

// TestRunResyncs: without netlink updates (as when a subscription is lost),
// the periodic resync alone repairs drift.
func TestRunResyncs(t *testing.T) {
	t.Parallel()
	tb := newTestbed(t, ResyncEvery(100*time.Millisecond))
	tb.m.watch = false
	tb.apply(t, base)
	tb.run(t)
	for range 2 { // the first repair may be Run's start-up pass
		vandalise(t, tb)
		tb.waitState(t, base)
	}
	tb.waitLogs(t, `trigger="periodic resync"`)
}

// TestRunWithoutConfigTouchesNothing: before the first Apply the Manager
// has no desired state and must not "repair" the interface to nothing.
func TestRunWithoutConfigTouchesNothing(t *testing.T) {
	t.Parallel()
	tb := newTestbed(t, ResyncEvery(20*time.Millisecond))
	netcfgtest.AddAddr(t, tb.app, iface, "203.0.113.9/24")
	tb.run(t)
	netcfgtest.AddAddr(t, tb.app, iface, "203.0.113.10/24") // an update during Run
	gw := &netlink.Route{LinkIndex: tb.link(t).Attrs().Index, Gw: net.ParseIP("203.0.113.254")}
	if err := tb.h.RouteAdd(gw); err != nil {
		t.Fatalf("add default route by hand: %v", err)
	}
	// Nothing may happen, so there is nothing to poll for: give Run ten
	// resyncs and a burst of updates to do the wrong thing.
	time.Sleep(200 * time.Millisecond)
	if got, want := tb.state(t), "addrs [203.0.113.10/24 203.0.113.9/24], default routes via [203.0.113.254]"; got != want {
		t.Errorf("Run without a config changed kwapp0: got %s, want %s", got, want)
	}
}

// TestRunStopsOnCancel: Run returns nil promptly when its context ends.
func TestRunStopsOnCancel(t *testing.T) {
	t.Parallel()
	tb := newTestbed(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tb.m.Run(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v after cancel, want nil", err)
		}
	case <-time.After(limit):
		t.Fatalf("Run still running %v after cancel", limit)
	}
}
