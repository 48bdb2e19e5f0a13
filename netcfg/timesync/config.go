package timesync

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// MaxServers bounds the server list: more servers add load and little
// accuracy, and each query runs at once.
const MaxServers = 8

// Config is the NTP configuration, node-local, as GET/PUT /config/ntp carry
// it. The zero Config is disabled.
type Config struct {
	// Servers are host or host:port (IPv6 as [addr]:port or a bare addr);
	// the port defaults to 123.
	Servers []string `json:"servers"`
	// Enabled lets the syncer correct the clock; disabled, it does nothing.
	Enabled bool `json:"enabled"`
}

// Validate reports every problem with c at once, wrapped in
// ErrInvalidConfig. An enabled configuration needs 1 to MaxServers servers; a
// disabled one may keep its list, or have none.
func (c Config) Validate() error {
	var errs []error
	switch {
	case c.Enabled && len(c.Servers) == 0:
		errs = append(errs, errors.New("servers: at least one is needed when NTP is enabled"))
	case len(c.Servers) > MaxServers:
		errs = append(errs, fmt.Errorf("servers: %d given, at most %d allowed", len(c.Servers), MaxServers))
	}
	for i, s := range c.Servers {
		if err := checkServer(s); err != nil {
			errs = append(errs, fmt.Errorf("servers[%d] %q: %w", i, s, err))
		}
		if slices.Index(c.Servers, s) < i {
			errs = append(errs, fmt.Errorf("servers[%d] %q: listed twice", i, s))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

// clone returns a copy of c that shares no slice with it, so a caller's later
// changes do not reach the syncer.
func (c Config) clone() Config {
	c.Servers = slices.Clone(c.Servers)
	return c
}

// checkServer accepts what beevik/ntp accepts and nothing looser: an IP
// address or DNS name, optionally with a port; a bare IPv6 address has no
// port.
func checkServer(s string) error {
	host, port := s, ""
	switch {
	case strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]"):
		host = s[1 : len(s)-1]
		if _, err := netip.ParseAddr(host); err != nil || !strings.Contains(host, ":") {
			return errors.New("brackets must hold an IPv6 address")
		}
		return nil
	case strings.Count(s, ":") > 1 && !strings.HasPrefix(s, "["):
		if _, err := netip.ParseAddr(s); err != nil {
			return errors.New("not an IPv6 address; write [addr]:port to give a port")
		}
		return nil
	case strings.Contains(s, ":"):
		var err error
		if host, port, err = net.SplitHostPort(s); err != nil {
			return fmt.Errorf("want host or host:port: %w", err)
		}
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %q: want 1 to 65535", port)
		}
	}
	return checkHost(host)
}

// checkHost accepts an IP address or an RFC 1123 host name.
func checkHost(h string) error {
	if _, err := netip.ParseAddr(h); err == nil {
		return nil
	}
	if h == "" || len(h) > 253 {
		return errors.New("host name must have 1 to 253 characters")
	}
	for label := range strings.SplitSeq(strings.TrimSuffix(h, "."), ".") {
		if !validLabel(label) {
			return fmt.Errorf("host name label %q: want letters, digits and inner hyphens, at most 63", label)
		}
	}
	return nil
}

// validLabel reports whether l is one DNS label of a host name.
func validLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for _, r := range l {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}
