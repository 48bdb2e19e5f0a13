package netcfg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// maxPasses bounds how often reconcile goes over the interface. One pass
// normally does everything and the next finds nothing to do; a third means
// the kernel dropped something right after we set it (deleting a primary
// IPv4 address takes its secondaries along, a link going down flushes IPv6
// addresses), and more than that means something fights us.
const maxPasses = 3

// reconcile makes what the Manager owns on the interface match s exactly,
// and returns a line per change for the log. Callers hold m.mu.
func (m *Manager) reconcile(ctx context.Context, s spec) ([]string, error) {
	var all []string
	for range maxPasses {
		changes, err := m.pass(ctx, s)
		all = append(all, changes...)
		if err != nil || len(changes) == 0 {
			return all, err
		}
	}
	return all, fmt.Errorf("%s still differs from the desired config after %d passes: something keeps changing it", m.iface, maxPasses)
}

// pass makes one round of changes: link up first (a down link refuses
// routes and, for IPv6, addresses), then addresses, then the default
// routes, which need the addresses' connected routes to reach the gateways.
func (m *Manager) pass(ctx context.Context, s spec) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	st, err := m.read()
	if err != nil {
		return nil, err
	}
	var changes []string
	if st.link.Attrs().Flags&net.FlagUp == 0 {
		if err := m.h.LinkSetUp(st.link); err != nil {
			return nil, fmt.Errorf("set %s up: %w", m.iface, err)
		}
		changes = append(changes, "set link up")
	}
	addrChanges, err := m.syncAddrs(st, s.prefixes())
	changes = append(changes, addrChanges...)
	if err != nil {
		return changes, err
	}
	if len(changes) > 0 {
		// Address and link changes make the kernel add and drop routes.
		if st, err = m.read(); err != nil {
			return changes, err
		}
	}
	routeChanges, err := m.syncRoutes(st, s.gateways())
	return append(changes, routeChanges...), err
}

// syncAddrs deletes the managed addresses not in want, then adds the missing
// ones. Deleting first matters for IPv4: a new address in the old subnet
// would become a secondary, and deleting the old primary would take it along.
func (m *Manager) syncAddrs(st kernelState, want []netip.Prefix) ([]string, error) {
	var changes []string
	have := map[netip.Prefix]bool{}
	for _, a := range st.addrs {
		p := prefixOf(a.IPNet)
		if slices.Contains(want, p) && !have[p] {
			have[p] = true
			continue
		}
		if err := m.h.AddrDel(st.link, &a); err != nil && !gone(err) {
			return changes, fmt.Errorf("delete address %s from %s: %w", p, m.iface, err)
		}
		changes = append(changes, "deleted address "+p.String())
	}
	for _, p := range want {
		if have[p] {
			continue
		}
		// Replace, not add: it also takes over an equal address that
		// something else added with a lifetime, and makes it permanent.
		if err := m.h.AddrReplace(st.link, ourAddr(p)); err != nil {
			return changes, fmt.Errorf("add address %s to %s: %w", p, m.iface, err)
		}
		changes = append(changes, "added address "+p.String())
	}
	return changes, nil
}

// syncRoutes deletes the managed default routes not through a gateway in
// want (and duplicates), then adds the missing ones.
func (m *Manager) syncRoutes(st kernelState, want []netip.Addr) ([]string, error) {
	var changes []string
	have := map[netip.Addr]bool{}
	for _, r := range st.routes {
		gw := addrOf(r.Gw)
		if slices.Contains(want, gw) && !have[gw] {
			have[gw] = true
			continue
		}
		if err := m.h.RouteDel(&r); err != nil && !gone(err) {
			return changes, fmt.Errorf("delete default route %s on %s: %w", describeRoute(r), m.iface, err)
		}
		changes = append(changes, "deleted default route "+describeRoute(r))
	}
	index := st.link.Attrs().Index
	for _, gw := range want {
		if have[gw] {
			continue
		}
		if err := m.h.RouteAdd(ourRoute(index, gw)); err != nil {
			return changes, fmt.Errorf("add default route via %s on %s: %w", gw, m.iface, err)
		}
		changes = append(changes, "added default route via "+gw.String())
	}
	return changes, nil
}

// describeRoute names a default route for logs and errors.
func describeRoute(r netlink.Route) string {
	if r.Gw == nil {
		return "without gateway"
	}
	return "via " + addrOf(r.Gw).String()
}

// gone reports whether a delete failed only because the thing was already
// gone, which is what the delete wanted.
func gone(err error) bool {
	return errors.Is(err, unix.ESRCH) || errors.Is(err, unix.EADDRNOTAVAIL) || errors.Is(err, unix.ENOENT)
}
