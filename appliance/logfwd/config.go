package logfwd

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
)

// ErrInvalid means a logging configuration was rejected; the API answers 400
// with the wrapping error's message, which names every problem.
var ErrInvalid = errors.New("invalid logging configuration")

// ErrClosed means the Handler was closed and takes no new configuration.
var ErrClosed = errors.New("logfwd: handler closed")

// Config is the body of GET/PUT /config/logging, as in the NetHSM API.
type Config struct {
	// IPAddress is the syslog collector, IPv4 or IPv6 without a zone; an
	// unspecified address (0.0.0.0 or ::) turns forwarding off.
	IPAddress string `json:"ipAddress"`
	// Port is the collector's UDP port, 1 to 65535.
	Port int `json:"port"`
	// LogLevel is the least severe level forwarded: debug, info, warning or
	// error.
	LogLevel string `json:"logLevel"`
}

// DefaultConfig is the configuration of a new Handler and of an appliance
// that was never configured: forwarding off, with the reference defaults.
func DefaultConfig() Config {
	return Config{IPAddress: "0.0.0.0", Port: 514, LogLevel: "info"}
}

// levels maps the API's level names to slog levels.
var levels = map[string]slog.Level{
	"debug":   slog.LevelDebug,
	"info":    slog.LevelInfo,
	"warning": slog.LevelWarn,
	"error":   slog.LevelError,
}

// Validate reports every problem of c at once, in one error wrapping
// ErrInvalid. It has no side effects.
func (c Config) Validate() error {
	var problems []string
	if a, err := netip.ParseAddr(c.IPAddress); err != nil || a.Zone() != "" {
		problems = append(problems, fmt.Sprintf("ipAddress %q is not an IPv4 or IPv6 address", c.IPAddress))
	}
	if c.Port < 1 || c.Port > 65535 {
		problems = append(problems, fmt.Sprintf("port %d is outside 1 to 65535", c.Port))
	}
	if _, ok := levels[c.LogLevel]; !ok {
		problems = append(problems, fmt.Sprintf("logLevel %q is unknown; choose debug, info, warning or error", c.LogLevel))
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(problems, "; "))
}

// target is where and what a valid Config forwards; nil means nothing.
type target struct {
	addr  netip.AddrPort
	level slog.Level
}

// target returns the forwarding target of c, or nil when c turns forwarding
// off; callers validate c first. IPv4-mapped IPv6 addresses count as IPv4, so
// the sender picks the socket family that reaches them.
func (c Config) target() *target {
	a, err := netip.ParseAddr(c.IPAddress)
	a = a.Unmap()
	if err != nil || a.IsUnspecified() {
		return nil
	}
	return &target{addr: netip.AddrPortFrom(a, uint16(c.Port)), level: levels[c.LogLevel]}
}
