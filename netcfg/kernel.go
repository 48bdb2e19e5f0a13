package netcfg

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// managedAddr reports whether a is one of the addresses the Manager owns
// (see Manager for what it owns, and why).
func managedAddr(a netlink.Addr) bool {
	return a.IPNet != nil && a.Scope == unix.RT_SCOPE_UNIVERSE && a.Flags&unix.IFA_F_PERMANENT != 0
}

// managedRoute reports whether r is one of the default routes the Manager
// owns on the interface with the given index.
func managedRoute(r netlink.Route, index int) bool {
	return r.LinkIndex == index && r.Table == unix.RT_TABLE_MAIN && r.Type == unix.RTN_UNICAST &&
		r.Protocol != unix.RTPROT_RA && isDefault(r.Dst)
}

// isDefault reports whether dst is a default destination (netlink reports
// it as nil or as a zero-length prefix, depending on the version).
func isDefault(dst *net.IPNet) bool {
	if dst == nil {
		return true
	}
	ones, _ := dst.Mask.Size()
	return ones == 0
}

// ourRoute is the default route through gw that the Manager installs.
// proto static tells an operator reading `ip route` that it is configured,
// not learned.
func ourRoute(index int, gw netip.Addr) *netlink.Route {
	dst := &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}
	if gw.Is6() {
		dst = &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}
	}
	return &netlink.Route{
		LinkIndex: index,
		Dst:       dst,
		Gw:        gw.AsSlice(),
		Table:     unix.RT_TABLE_MAIN,
		Protocol:  unix.RTPROT_STATIC,
		Scope:     netlink.SCOPE_UNIVERSE,
		Type:      unix.RTN_UNICAST,
	}
}

// ourAddr is the netlink form of prefix p. No lifetime, so the kernel marks
// it permanent and it counts as managed; netlink fills in the IPv4
// broadcast address.
func ourAddr(p netip.Prefix) *netlink.Addr {
	bits := 32
	if p.Addr().Is6() {
		bits = 128
	}
	return &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), bits)}}
}

// prefixOf converts a kernel address to a prefix that keeps the host bits.
func prefixOf(n *net.IPNet) netip.Prefix {
	ones, bits := n.Mask.Size()
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}
	}
	if bits == 32 {
		a = a.Unmap()
	}
	return netip.PrefixFrom(a, ones)
}

// addrOf converts a kernel IP (IPv4 in 4 or 16 bytes) to netip form.
func addrOf(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}

// kernelState is what the kernel holds that the Manager owns.
type kernelState struct {
	link   netlink.Link
	addrs  []netlink.Addr
	routes []netlink.Route
}

// spec reads s back as a spec: the first managed address and default route
// of each family. After a successful Apply there is exactly one of each.
func (s kernelState) spec() spec {
	var sp spec
	for _, a := range s.addrs {
		p := prefixOf(a.IPNet)
		switch {
		case p.Addr().Is4() && !sp.addr4.IsValid():
			sp.addr4 = p
		case p.Addr().Is6() && !sp.addr6.IsValid():
			sp.addr6 = p
		}
	}
	for _, r := range s.routes {
		gw := addrOf(r.Gw)
		switch {
		case gw.Is4() && !sp.gw4.IsValid():
			sp.gw4 = gw
		case gw.Is6() && !sp.gw6.IsValid():
			sp.gw6 = gw
		}
	}
	return sp
}

// dumpRetries bounds the retries of a netlink dump the kernel interrupted
// because the table changed while it was being read.
const dumpRetries = 5

// read returns the link and what the Manager owns on it. Callers hold m.mu.
func (m *Manager) read() (kernelState, error) {
	link, err := m.h.LinkByName(m.iface)
	if err != nil {
		return kernelState{}, linkError(m.iface, err)
	}
	index := link.Attrs().Index
	m.index.Store(int32(index))
	addrs, err := retryDump(func() ([]netlink.Addr, error) { return m.h.AddrList(link, netlink.FAMILY_ALL) })
	if err != nil {
		return kernelState{}, fmt.Errorf("list addresses of %s: %w", m.iface, err)
	}
	filter := &netlink.Route{LinkIndex: index, Table: unix.RT_TABLE_MAIN}
	routes, err := retryDump(func() ([]netlink.Route, error) {
		return m.h.RouteListFiltered(netlink.FAMILY_ALL, filter, netlink.RT_FILTER_OIF|netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return kernelState{}, fmt.Errorf("list routes of %s: %w", m.iface, err)
	}
	st := kernelState{link: link}
	for _, a := range addrs {
		if managedAddr(a) {
			st.addrs = append(st.addrs, a)
		}
	}
	for _, r := range routes {
		if managedRoute(r, index) {
			st.routes = append(st.routes, r)
		}
	}
	return st, nil
}

// retryDump repeats a netlink dump that the kernel interrupted.
func retryDump[T any](dump func() ([]T, error)) ([]T, error) {
	var err error
	for range dumpRetries {
		var out []T
		if out, err = dump(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			return out, err
		}
	}
	return nil, err
}

// linkError wraps a failed link lookup, as ErrNoInterface when the link is
// simply not there.
func linkError(iface string, err error) error {
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		return fmt.Errorf("%w: %s", ErrNoInterface, iface)
	}
	return fmt.Errorf("look up interface %s: %w", iface, err)
}
