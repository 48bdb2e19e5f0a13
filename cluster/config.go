package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"regexp"
	"strconv"
)

// clientSocketName is the etcd client socket inside the data directory. The
// appliance daemon is the only client of its member, so the socket is the
// only client endpoint and nothing else on the machine can reach the store.
const clientSocketName = "client.sock"

// maxSocketPath is the longest unix socket path Linux accepts (sun_path is 108
// bytes including the terminating NUL).
const maxSocketPath = 107

// memberNamePattern keeps names safe inside etcd's "name=url,..." initial
// cluster syntax and readable in logs.
var memberNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// Config describes one embedded etcd member.
type Config struct {
	// Name is the member name, unique in the cluster (for example the node id).
	Name string
	// DataDir holds etcd's data and the client socket and nothing else.
	// Start creates it, or makes an existing one private (mode 0700).
	DataDir string
	// PeerListen is the host:port peers reach this member on. Empty (a single
	// appliance) means the member opens no peer port at all. The host must be
	// a concrete IP address because the member also advertises it to peers.
	PeerListen string
	// Logger receives etcd's warnings and errors; nil discards them.
	Logger *slog.Logger
}

// Validate reports every problem with c at once. It has no side effects.
func (c Config) Validate() error {
	var errs []error
	if !memberNamePattern.MatchString(c.Name) {
		errs = append(errs, fmt.Errorf("name %q: want 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit", c.Name))
	}
	if err := validateDataDir(c.DataDir); err != nil {
		errs = append(errs, err)
	}
	if c.PeerListen != "" {
		if err := validatePeerListen(c.PeerListen); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid cluster member config: %w", err)
	}
	return nil
}

func validateDataDir(dir string) error {
	if dir == "" {
		return errors.New("data dir: must not be empty")
	}
	sock, err := socketPath(dir)
	if err != nil {
		return fmt.Errorf("data dir %q: %w", dir, err)
	}
	if len(sock) > maxSocketPath {
		return fmt.Errorf("data dir %q: client socket path %q is %d bytes, longer than the %d a unix socket allows", dir, sock, len(sock), maxSocketPath)
	}
	return nil
}

func validatePeerListen(hostPort string) error {
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return fmt.Errorf("peer listen %q: %w", hostPort, err)
	}
	var errs []error
	addr, err := netip.ParseAddr(host)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("peer listen %q: host must be an IP address", hostPort))
	case addr.IsUnspecified():
		errs = append(errs, fmt.Errorf("peer listen %q: host must be an address peers can reach, not a wildcard", hostPort))
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		errs = append(errs, fmt.Errorf("peer listen %q: port must be 1-65535", hostPort))
	}
	return errors.Join(errs...)
}

// socketPath returns the absolute path of the client socket for dataDir.
// An absolute path keeps the endpoint independent of the working directory.
func socketPath(dataDir string) (string, error) {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return "", err
	}
	return filepath.Join(abs, clientSocketName), nil
}
