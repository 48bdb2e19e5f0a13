package netcfg

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keywarden/keywarden/netcfg/netcfgtest"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The testbed: namespace "app" holds the managed interface kwapp0; namespace
// "lan" holds its veth peer, with the gateway addresses and, on its
// loopback, one "remote" address per family that app reaches only through
// its default route.
const (
	iface    = "kwapp0" // a name no host has, so a namespace bug cannot reach a real interface
	peer     = "kwlan0"
	port     = 7000
	limit    = 10 * time.Second // bound on anything that waits for the kernel
	remote4  = "198.51.100.5"
	remote6  = "2001:db8:ffff::5"
	lanAddr4 = "192.0.2.254/24"
	lanAddr6 = "fc00::2/7"
)

// base is the config most tests apply: reference shape, testbed addresses.
var base = Config{
	IPAddress: "192.0.2.1", Netmask: "255.255.255.0", Gateway: "192.0.2.254",
	IPv6: &IPv6Config{CIDR: "fc00::1/7", Gateway: "fc00::2"},
}

type testbed struct {
	app, lan netns.NsHandle
	h        *netlink.Handle // in app
	m        *Manager
	logs     *logBuffer
}

// newTestbed builds the two namespaces and a Manager for kwapp0 in app.
func newTestbed(t *testing.T, opts ...Option) *testbed {
	t.Helper()
	tb := &testbed{app: netcfgtest.NewNS(t), lan: netcfgtest.NewNS(t), logs: &logBuffer{}}
	netcfgtest.Veth(t, tb.app, iface, tb.lan, peer)
	netcfgtest.AddAddr(t, tb.lan, peer, lanAddr4)
	netcfgtest.AddAddr(t, tb.lan, peer, lanAddr6)
	netcfgtest.AddAddr(t, tb.lan, "lo", remote4+"/32")
	netcfgtest.AddAddr(t, tb.lan, "lo", remote6+"/128")
	tb.h = netcfgtest.Handle(t, tb.app)
	log := slog.New(slog.NewTextHandler(tb.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m, err := NewManager(iface, log, append([]Option{InNamespace(tb.app)}, opts...)...)
	if err != nil {
		t.Fatalf("NewManager: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	tb.m = m
	return tb
}

// run starts m.Run and stops it at cleanup, checking that it returned nil.
func (tb *testbed) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tb.m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v after cancel, want nil", err)
		}
	})
}

// apply applies c or fails the test.
func (tb *testbed) apply(t *testing.T, c Config) {
	t.Helper()
	if err := tb.m.Apply(context.Background(), c); err != nil {
		t.Fatalf("Apply(%+v): %v", c, err)
	}
}

// link returns kwapp0.
func (tb *testbed) link(t *testing.T) netlink.Link {
	t.Helper()
	return netcfgtest.Link(t, tb.h, iface)
}

// globalAddrs lists kwapp0's global-scope addresses, read independently of the
// Manager's own filtering, sorted.
func (tb *testbed) globalAddrs(t *testing.T) []string {
	t.Helper()
	addrs, err := tb.h.AddrList(tb.link(t), netlink.FAMILY_ALL)
	if err != nil {
		t.Fatalf("list addresses: %v", err)
	}
	var out []string
	for _, a := range addrs {
		if a.Scope == unix.RT_SCOPE_UNIVERSE {
			out = append(out, a.IPNet.String())
		}
	}
	slices.Sort(out)
	return out
}

// defaultRoutes lists the gateways of the main table's default routes out
// of kwapp0, sorted.
func (tb *testbed) defaultRoutes(t *testing.T) []string {
	t.Helper()
	routes, err := tb.h.RouteListFiltered(netlink.FAMILY_ALL,
		&netlink.Route{LinkIndex: tb.link(t).Attrs().Index, Table: unix.RT_TABLE_MAIN},
		netlink.RT_FILTER_OIF|netlink.RT_FILTER_TABLE)
	if err != nil {
		t.Fatalf("list routes: %v", err)
	}
	var out []string
	for _, r := range routes {
		if r.Dst == nil || r.Dst.IP.IsUnspecified() && bytes.Count(r.Dst.Mask, []byte{0}) == len(r.Dst.Mask) {
			out = append(out, r.Gw.String())
		}
	}
	slices.Sort(out)
	return out
}

// state is kwapp0's addresses and default gateways in one line, for
// comparisons in polls.
func (tb *testbed) state(t *testing.T) string {
	return fmt.Sprintf("addrs %v, default routes via %v", tb.globalAddrs(t), tb.defaultRoutes(t))
}

// wantState is what state reports once c is applied.
func wantState(c Config) string {
	addrs := []string{}
	s, _ := c.parse()
	for _, p := range s.prefixes() {
		addrs = append(addrs, (&net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}).String())
	}
	var gws []string
	for _, g := range s.gateways() {
		gws = append(gws, g.String())
	}
	slices.Sort(addrs)
	slices.Sort(gws)
	return fmt.Sprintf("addrs %v, default routes via %v", addrs, gws)
}

// waitState polls until kwapp0 holds exactly c.
func (tb *testbed) waitState(t *testing.T, c Config) {
	t.Helper()
	want := wantState(c)
	netcfgtest.Eventually(t, limit, func() string {
		if got := tb.state(t); got != want {
			return fmt.Sprintf("got %s, want %s", got, want)
		}
		return ""
	})
}

// checkState checks that kwapp0 holds exactly c now.
func (tb *testbed) checkState(t *testing.T, c Config) {
	t.Helper()
	if got, want := tb.state(t), wantState(c); got != want {
		t.Fatalf("kernel: got %s, want %s", got, want)
	}
}

// addrPort is ip:port7000.
func addrPort(ip string) netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr(ip), port)
}

// waitLogs polls until the Manager's log holds every one of want.
func (tb *testbed) waitLogs(t *testing.T, want ...string) {
	t.Helper()
	netcfgtest.Eventually(t, limit, func() string {
		logs := tb.logs.String()
		for _, w := range want {
			if !strings.Contains(logs, w) {
				return fmt.Sprintf("logs lack %q:\n%s", w, logs)
			}
		}
		return ""
	})
}

// logBuffer collects log output from several goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
