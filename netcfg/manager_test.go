package netcfg

import (
	"context"
	"errors"
	"net"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/netcfg/netcfgtest"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TestApply applies the reference shape, checks the kernel with netlink
// reads and with real traffic both to the applied addresses and through
// both default routes, then replaces it with a smaller config and checks
// that what is no longer wanted is gone.
func TestApply(t *testing.T) {
	t.Parallel()
	tb := newTestbed(t)
	tb.apply(t, base)
	tb.checkState(t, base)
	if tb.link(t).Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("kwapp0 is down after Apply, want up")
	}
	got, err := tb.m.Current(context.Background())
	if err != nil {
		t.Fatalf("Current: %v", err)
	}
	if desired, _ := tb.m.Desired(); !reflect.DeepEqual(got, desired) || !reflect.DeepEqual(got, base) {
		t.Errorf("Current() = %+v %+v, want Desired() = base = %+v %+v", got, got.IPv6, base, base.IPv6)
	}

	// lan -> the applied addresses; app -> lan's loopback via the gateways.
	netcfgtest.Echo(t, tb.app, addrPort("192.0.2.1"), limit)
	netcfgtest.Echo(t, tb.app, addrPort("fc00::1"), limit) // waits out duplicate address detection
	netcfgtest.Echo(t, tb.lan, addrPort(remote4), limit)
	netcfgtest.Echo(t, tb.lan, addrPort(remote6), limit)
	netcfgtest.WaitRoundTrip(t, tb.lan, addrPort("192.0.2.1"), limit)
	netcfgtest.WaitRoundTrip(t, tb.lan, addrPort("fc00::1"), limit)
	netcfgtest.WaitRoundTrip(t, tb.app, addrPort(remote4), limit)
	netcfgtest.WaitRoundTrip(t, tb.app, addrPort(remote6), limit)

	smaller := Config{IPAddress: "192.0.2.10", Netmask: "255.255.255.0", Gateway: "0.0.0.0"}
	tb.apply(t, smaller)
	tb.checkState(t, smaller)
	if err := netcfgtest.RoundTrip(tb.app, addrPort(remote4)); err == nil {
		t.Errorf("app still reaches %s with no default route", remote4)
	}
	netcfgtest.Echo(t, tb.app, addrPort("192.0.2.10"), limit)
	netcfgtest.WaitRoundTrip(t, tb.lan, addrPort("192.0.2.10"), limit)
	if got, _ := tb.m.Current(context.Background()); !reflect.DeepEqual(got, smaller) {
		t.Errorf("Current() = %+v, want %+v", got, smaller)
	}
}

// TestApplyOwnsOnlyItsShare puts things on kwapp0 and a second interface that
// the Manager must leave alone (link-local and leased addresses, another
// interface's address and default route) and one it owns (a stray global
// address), and checks that Apply removes only the stray.
func TestApplyOwnsOnlyItsShare(t *testing.T) {
	t.Parallel()
	tb := newTestbed(t)
	netcfgtest.Veth(t, tb.app, "kwkwmgmt0", tb.lan, "kwmgmt1")
	netcfgtest.AddAddr(t, tb.app, "kwkwmgmt0", "198.18.0.1/24")
	mgmt := netcfgtest.Link(t, tb.h, "kwkwmgmt0")
	other := &netlink.Route{LinkIndex: mgmt.Attrs().Index, Gw: net.ParseIP("198.18.0.254"), Priority: 500}
	if err := tb.h.RouteAdd(other); err != nil {
		t.Fatalf("add default route on kwmgmt0: %v", err)
	}
	netcfgtest.AddAddr(t, tb.app, iface, "203.0.113.9/24") // stray: ours to remove
	leased, _ := netlink.ParseAddr("2001:db8:1::99/64")
	leased.ValidLft, leased.PreferedLft = 3600, 3600
	if err := tb.h.AddrAdd(tb.link(t), leased); err != nil {
		t.Fatalf("add leased address: %v", err)
	}

	tb.apply(t, base)

	addrs := tb.globalAddrs(t)
	if want := []string{"192.0.2.1/24", "2001:db8:1::99/64", "fc00::1/7"}; !slices.Equal(addrs, want) {
		t.Errorf("kwapp0 global addresses: got %v, want %v (stray gone, leased kept)", addrs, want)
	}
	all, err := tb.h.AddrList(tb.link(t), netlink.FAMILY_V6)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(all, func(a netlink.Addr) bool { return a.IP.IsLinkLocalUnicast() }) {
		t.Errorf("kwapp0 lost its link-local address: %v", all)
	}
	if got, err := tb.h.AddrList(mgmt, netlink.FAMILY_V4); err != nil || len(got) != 1 || got[0].IPNet.String() != "198.18.0.1/24" {
		t.Errorf("kwmgmt0 addresses after Apply: %v (%v), want 198.18.0.1/24", got, err)
	}
	routes, err := tb.h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{LinkIndex: mgmt.Attrs().Index}, netlink.RT_FILTER_OIF)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(routes, func(r netlink.Route) bool { return r.Gw.Equal(other.Gw) && r.Priority == 500 }) {
		t.Errorf("kwmgmt0's default route is gone after Apply: %v", routes)
	}
	if cur, _ := tb.m.Current(context.Background()); !reflect.DeepEqual(cur, base) {
		t.Errorf("Current() = %+v %+v, want base (a leased address is not ours to report)", cur, cur.IPv6)
	}
}

// TestApplyInvalidChangesNothing: every invalid config is refused with
// ErrInvalid by Apply and Try, and leaves the namespace exactly as it was.
func TestApplyInvalidChangesNothing(t *testing.T) {
	t.Parallel()
	tb := newTestbed(t)
	tb.apply(t, base)
	before := netcfgtest.Snapshot(t, tb.app)
	invalid := []Config{
		{},
		{IPAddress: "192.0.2.1", Netmask: "255.0.255.0", Gateway: "0.0.0.0"},
		{IPAddress: "192.0.2.1", Netmask: "255.255.255.0", Gateway: "10.0.0.1"},
		{IPAddress: "192.0.2.300", Netmask: "255.255.255.0", Gateway: "0.0.0.0"},
		{IPAddress: "192.0.2.7", Netmask: "255.255.255.0", Gateway: "0.0.0.0", IPv6: &IPv6Config{CIDR: "fc00::7/7", Gateway: "2001:db8::1"}},
		{IPAddress: "192.0.2.7", Netmask: "255.255.255.0", Gateway: "0.0.0.0", IPv6: &IPv6Config{CIDR: "fe80::7/64"}},
	}
	for _, c := range invalid {
		if err := tb.m.Apply(context.Background(), c); !errors.Is(err, ErrInvalid) {
			t.Errorf("Apply(%+v) = %v, want ErrInvalid", c, err)
		}
		if _, err := tb.m.Try(context.Background(), c, 0); !errors.Is(err, ErrInvalid) {
			t.Errorf("Try(%+v) = %v, want ErrInvalid", c, err)
		}
	}
	if after := netcfgtest.Snapshot(t, tb.app); after != before {
		t.Errorf("invalid configs changed the namespace:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if d, _ := tb.m.Desired(); !reflect.DeepEqual(d, base) {
		t.Errorf("Desired() = %+v, want base", d)
	}
	if _, _, ok := tb.m.Pending(); ok {
		t.Errorf("an invalid Try left a pending try")
	}
}

// TestNewManagerNoInterface: the managed interface must exist.
func TestNewManagerNoInterface(t *testing.T) {
	t.Parallel()
	ns := netcfgtest.NewNS(t)
	_, err := NewManager("kwnone0", nil, InNamespace(ns))
	if !errors.Is(err, ErrNoInterface) {
		t.Fatalf("NewManager(kwnone0) = %v, want ErrNoInterface", err)
	}
}

// TestClose: Close is idempotent, and a closed Manager refuses work.
func TestClose(t *testing.T) {
	t.Parallel()
	tb := newTestbed(t)
	for range 2 {
		if err := tb.m.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	if err := tb.m.Apply(context.Background(), base); !errors.Is(err, ErrClosed) {
		t.Errorf("Apply after Close = %v, want ErrClosed", err)
	}
	if err := tb.m.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close = %v, want ErrClosed", err)
	}
	if _, err := tb.m.Current(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Current after Close = %v, want ErrClosed", err)
	}
	if got := tb.globalAddrs(t); len(got) != 0 {
		t.Errorf("kwapp0 addresses after Apply on a closed Manager: %v, want none", got)
	}
}

// TestApplyRouteRefused: when the kernel refuses a change, Apply says so.
// Another interface's default route at the same metric makes the kernel
// refuse ours (IPv4 keeps one route per destination and metric).
func TestApplyRouteRefused(t *testing.T) {
	t.Parallel()
	tb := newTestbed(t)
	netcfgtest.Veth(t, tb.app, "kwkwmgmt0", tb.lan, "kwmgmt1")
	netcfgtest.AddAddr(t, tb.app, "kwkwmgmt0", "198.18.0.1/24")
	mgmt := netcfgtest.Link(t, tb.h, "kwkwmgmt0")
	if err := tb.h.RouteAdd(&netlink.Route{LinkIndex: mgmt.Attrs().Index, Gw: net.ParseIP("198.18.0.254")}); err != nil {
		t.Fatalf("add default route on kwmgmt0: %v", err)
	}
	err := tb.m.Apply(context.Background(), base)
	if !errors.Is(err, unix.EEXIST) || !strings.Contains(err.Error(), "default route via 192.0.2.254") {
		t.Fatalf("Apply with a clashing default route = %v, want the kernel's EEXIST naming our route", err)
	}
	if d, ok := tb.m.Desired(); !ok || !reflect.DeepEqual(d, base) {
		t.Errorf("Desired() = %+v, %t after a refused Apply, want base (Run keeps trying)", d, ok)
	}
}
