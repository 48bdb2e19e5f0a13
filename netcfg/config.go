package netcfg

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
)

// Config is the appliance's network configuration, in the shape of the
// NetHSM API's /config/network:
//
//	{"ipAddress":"192.168.1.1","netmask":"255.255.255.0","gateway":"0.0.0.0",
//	 "ipv6":{"cidr":"fc00::1/7","gateway":"fc00::2"}}
type Config struct {
	// IPAddress is the interface's IPv4 address, a dotted quad. Required.
	IPAddress string `json:"ipAddress"`
	// Netmask is the IPv4 netmask as a dotted quad with contiguous ones
	// (255.255.255.0, not 255.0.255.0). Required.
	Netmask string `json:"netmask"`
	// Gateway is the IPv4 default gateway. It must lie inside the subnet
	// IPAddress/Netmask. "0.0.0.0" (or empty) means no IPv4 default route.
	Gateway string `json:"gateway"`
	// IPv6 is optional: nil means no IPv6 address and no IPv6 default route
	// of ours (the kernel's link-local address stays).
	IPv6 *IPv6Config `json:"ipv6,omitempty"`
}

// LogValue shows c in logs with its JSON field names.
func (c Config) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("ipAddress", c.IPAddress), slog.String("netmask", c.Netmask), slog.String("gateway", c.Gateway)}
	if c.IPv6 != nil {
		attrs = append(attrs, slog.Group("ipv6", "cidr", c.IPv6.CIDR, "gateway", c.IPv6.Gateway))
	}
	return slog.GroupValue(attrs...)
}

// IPv6Config is the optional IPv6 part of Config.
type IPv6Config struct {
	// CIDR is the interface's IPv6 address with its prefix length, such as
	// "fc00::1/7". Required when IPv6 is set.
	CIDR string `json:"cidr"`
	// Gateway is the IPv6 default gateway: inside CIDR's prefix, or a
	// link-local address (routers usually advertise one). Empty or "::"
	// means no IPv6 default route.
	Gateway string `json:"gateway,omitempty"`
}

// spec is a validated Config in kernel terms. A zero gateway or a zero
// addr6 means "none".
type spec struct {
	addr4 netip.Prefix
	gw4   netip.Addr
	addr6 netip.Prefix
	gw6   netip.Addr
}

// problems reports every problem with a config on one line, because the API
// shows the message to the user as is; errors.Is still sees each problem.
type problems []error

func (p problems) Error() string {
	msgs := make([]string, len(p))
	for i, err := range p {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (p problems) Unwrap() []error { return p }

// Addresses returns the host addresses c gives the interface: the IPv4
// address, then the IPv6 one if c has IPv6. It returns nil for an invalid c.
func (c Config) Addresses() []netip.Addr {
	s, err := c.parse()
	if err != nil {
		return nil
	}
	addrs := []netip.Addr{s.addr4.Addr()}
	if s.addr6.IsValid() {
		addrs = append(addrs, s.addr6.Addr())
	}
	return addrs
}

// Validate reports every problem with c at once, wrapped in ErrInvalid. It
// has no side effects.
func (c Config) Validate() error {
	_, err := c.parse()
	return err
}

// parse validates c and converts it to kernel terms.
func (c Config) parse() (spec, error) {
	var s spec
	var errs problems
	if p, err := parseIPv4Host(c.IPAddress, c.Netmask); err != nil {
		errs = append(errs, err...)
	} else {
		s.addr4 = p
	}
	gw, err := parseIPv4Gateway(c.Gateway, s.addr4)
	if err != nil {
		errs = append(errs, err)
	}
	s.gw4 = gw
	if c.IPv6 != nil {
		var v6errs []error
		s.addr6, s.gw6, v6errs = c.IPv6.parse()
		errs = append(errs, v6errs...)
	}
	if len(errs) > 0 {
		return spec{}, fmt.Errorf("%w: %w", ErrInvalid, errs)
	}
	return s, nil
}

// parseIPv4Host checks the address and netmask and returns them as one
// prefix that keeps the host bits.
func parseIPv4Host(address, netmask string) (netip.Prefix, []error) {
	var errs []error
	addr, err := parseIPv4("ipAddress", address)
	if err != nil {
		errs = append(errs, err)
	}
	bits, err := parseNetmask(netmask)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return netip.Prefix{}, errs
	}
	p := netip.PrefixFrom(addr, bits)
	if err := checkHost4("ipAddress", addr, p); err != nil {
		return netip.Prefix{}, []error{err}
	}
	return p, nil
}

// parseIPv4 parses a dotted quad that can be a unicast host address.
func parseIPv4(field, s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, fmt.Errorf("%s is required", field)
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, fmt.Errorf("%s %q is not an IPv4 address", field, s)
	}
	if !usable(a) || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return netip.Addr{}, fmt.Errorf("%s %q is not a unicast host address", field, s)
	}
	return a, nil
}

// usable reports whether a can name a host on the network: not
// unspecified, loopback or multicast.
func usable(a netip.Addr) bool {
	return !a.IsUnspecified() && !a.IsLoopback() && !a.IsMulticast()
}

// parseNetmask returns the prefix length of a contiguous dotted-quad mask.
// A /0 mask is refused: it would put the whole Internet on the link.
func parseNetmask(s string) (int, error) {
	if s == "" {
		return 0, errors.New("netmask is required")
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return 0, fmt.Errorf("netmask %q is not a dotted-quad IPv4 netmask", s)
	}
	ones, bits := net.IPMask(a.AsSlice()).Size()
	if bits == 0 {
		return 0, fmt.Errorf("netmask %q is not contiguous (want ones then zeros, such as 255.255.255.0)", s)
	}
	if ones == 0 {
		return 0, fmt.Errorf("netmask %q is empty (want at least one network bit)", s)
	}
	return ones, nil
}

// checkHost4 refuses the network and broadcast addresses of subnets that
// have them (up to /30; /31 and /32 use every address, RFC 3021).
func checkHost4(field string, a netip.Addr, p netip.Prefix) error {
	if p.Bits() > 30 {
		return nil
	}
	if a == p.Masked().Addr() {
		return fmt.Errorf("%s %s is the network address of %s", field, a, p.Masked())
	}
	if a == broadcast4(p) {
		return fmt.Errorf("%s %s is the broadcast address of %s", field, a, p.Masked())
	}
	return nil
}

// broadcast4 returns the last address of p.
func broadcast4(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	mask := net.CIDRMask(p.Bits(), 32)
	for i := range b {
		b[i] |= ^mask[i]
	}
	return netip.AddrFrom4(b)
}

// parseIPv4Gateway checks the IPv4 gateway against the host prefix (when
// that is valid) and returns the zero Addr for "no gateway".
func parseIPv4Gateway(s string, host netip.Prefix) (netip.Addr, error) {
	if s == "" || s == "0.0.0.0" {
		return netip.Addr{}, nil
	}
	gw, err := parseIPv4("gateway", s)
	if err != nil || !host.IsValid() {
		return netip.Addr{}, err
	}
	switch {
	case !host.Contains(gw):
		return netip.Addr{}, fmt.Errorf("gateway %s is outside the subnet %s", gw, host.Masked())
	case gw == host.Addr():
		return netip.Addr{}, fmt.Errorf("gateway %s is the interface's own address", gw)
	}
	return gw, checkHost4("gateway", gw, host)
}

// parse validates the IPv6 part and returns every problem with it.
func (c IPv6Config) parse() (netip.Prefix, netip.Addr, []error) {
	var errs []error
	p, err := netip.ParsePrefix(c.CIDR)
	switch {
	case c.CIDR == "":
		errs = append(errs, errors.New("ipv6.cidr is required when ipv6 is set"))
	case err != nil || !p.Addr().Is6() || p.Addr().Is4In6():
		errs = append(errs, fmt.Errorf("ipv6.cidr %q is not an IPv6 address with a prefix length, such as fc00::1/7", c.CIDR))
	case p.Bits() == 0:
		errs = append(errs, fmt.Errorf("ipv6.cidr %q has prefix length 0 (want 1 to 128)", c.CIDR))
	case !usable(p.Addr()) || p.Addr().IsLinkLocalUnicast():
		errs = append(errs, fmt.Errorf("ipv6.cidr %q is not a global unicast address (the kernel manages link-local addresses itself)", c.CIDR))
	}
	if len(errs) > 0 {
		p = netip.Prefix{}
	}
	gw, err := parseIPv6Gateway(c.Gateway, p)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return netip.Prefix{}, netip.Addr{}, errs
	}
	return p, gw, nil
}

// parseIPv6Gateway checks the IPv6 gateway against the host prefix (when
// that is valid) and returns the zero Addr for "no gateway".
func parseIPv6Gateway(s string, host netip.Prefix) (netip.Addr, error) {
	if s == "" || s == "::" {
		return netip.Addr{}, nil
	}
	gw, err := netip.ParseAddr(s)
	switch {
	case err != nil || !gw.Is6() || gw.Is4In6() || gw.Zone() != "":
		return netip.Addr{}, fmt.Errorf("ipv6.gateway %q is not an IPv6 address (without a zone)", s)
	case !usable(gw):
		return netip.Addr{}, fmt.Errorf("ipv6.gateway %q is not a unicast address", s)
	case !host.IsValid():
		return netip.Addr{}, nil
	case gw == host.Addr():
		return netip.Addr{}, fmt.Errorf("ipv6.gateway %s is the interface's own address", gw)
	case !gw.IsLinkLocalUnicast() && !host.Contains(gw):
		return netip.Addr{}, fmt.Errorf("ipv6.gateway %s is outside the prefix %s and not link-local", gw, host.Masked())
	}
	return gw, nil
}

// config returns s in the API's shape, canonically spelled, so that a
// config read back from the kernel compares equal to the one applied.
func (s spec) config() Config {
	c := Config{Gateway: "0.0.0.0"}
	if s.addr4.IsValid() {
		c.IPAddress = s.addr4.Addr().String()
		c.Netmask = net.IP(net.CIDRMask(s.addr4.Bits(), 32)).String()
	}
	if s.gw4.IsValid() {
		c.Gateway = s.gw4.String()
	}
	if s.addr6.IsValid() || s.gw6.IsValid() {
		c.IPv6 = &IPv6Config{}
		if s.addr6.IsValid() {
			c.IPv6.CIDR = s.addr6.String()
		}
		if s.gw6.IsValid() {
			c.IPv6.Gateway = s.gw6.String()
		}
	}
	return c
}

// prefixes lists the addresses s puts on the interface.
func (s spec) prefixes() []netip.Prefix {
	return validOnly([]netip.Prefix{s.addr4, s.addr6})
}

// gateways lists the default gateways s routes through, at most one per
// family.
func (s spec) gateways() []netip.Addr {
	return validOnly([]netip.Addr{s.gw4, s.gw6})
}

// validOnly drops zero values.
func validOnly[T interface{ IsValid() bool }](in []T) []T {
	var out []T
	for _, v := range in {
		if v.IsValid() {
			out = append(out, v)
		}
	}
	return out
}
