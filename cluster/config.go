package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
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
	// PeerTLS, when set, makes peers talk https and authenticate each other
	// with certificates from one CA. Without it peers talk plain http, which
	// suits only tests and isolated lab networks.
	PeerTLS *PeerTLS
	// Join makes a new member join an existing cluster, which must already
	// list it as a learner (see Member.AddLearner), instead of founding a
	// cluster of its own. It needs PeerListen and InitialCluster, and a data
	// dir that holds no member yet: Start refuses one that does. Once a join
	// has succeeded, start the member again without Join; its data dir then
	// knows the cluster.
	Join bool
	// InitialCluster names, for Join, every member of the cluster including
	// this one, with their peer URLs (see InitialClusterFor). etcd checks it
	// against the cluster's own list, so it must be complete and exact.
	InitialCluster map[string][]string
	// ForceNewCluster recovers from the permanent loss of a quorum: the
	// member starts as a cluster of one with the data it holds, and etcd
	// drops every other member from its record. Writes only the lost members
	// had are gone, and they must never come back with their old data, only
	// through a fresh join. It needs a data dir that holds a member (Start
	// refuses one that does not with ErrNoMemberData) and no Join. Once Start
	// has succeeded the data dir records the new cluster and later starts
	// need no flag; Member.Config returns it cleared. With PeerListen the
	// member keeps listening for peers, so new members can join it.
	ForceNewCluster bool
	// StartWithoutQuorum lets Start return as soon as etcd runs, instead of
	// waiting for a quorum, when the data dir holds a member of a cluster
	// with other members: a node restarting while its peers are down can
	// then serve its own API and report the missing quorum. Until a quorum
	// answers, Member.Ready is false and the store fails with ErrUnavailable;
	// from then on it serves without anyone calling Start again. A member
	// alone in its cluster, or one started with ForceNewCluster, is its own
	// quorum and Start waits for it as usual. Not with Join: a joining member
	// needs its cluster to answer.
	StartWithoutQuorum bool
	// Logger receives etcd's warnings and errors; nil discards them.
	Logger *slog.Logger
}

// Validate reports every problem with c at once. It has no side effects.
func (c Config) Validate() error {
	_, err := c.check()
	return err
}

// check validates c and returns its parsed peer identity (nil without
// PeerTLS).
func (c Config) check() (*peerIdentity, error) {
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
	var id *peerIdentity
	if c.PeerTLS != nil {
		var err error
		if id, err = parsePeerTLS(*c.PeerTLS, hostOf(c.PeerListen)); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, c.validateJoin()...)
	errs = append(errs, c.validateBootstrap()...)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("invalid cluster member config: %w", err)
	}
	return id, nil
}

// validateJoin checks that Join and InitialCluster come together and that
// InitialCluster names this member at exactly its advertised peer URL.
func (c Config) validateJoin() []error {
	switch {
	case !c.Join && len(c.InitialCluster) > 0:
		return []error{errors.New("initial cluster: only used to join, but join is not set")}
	case !c.Join:
		return nil
	}
	var errs []error
	if c.PeerListen == "" {
		errs = append(errs, errors.New("join: peer listen must be set, or the cluster could not reach this member"))
	}
	if len(c.InitialCluster) < 2 {
		errs = append(errs, fmt.Errorf("join: initial cluster has %d members, want this one and at least one to join", len(c.InitialCluster)))
	}
	if own := c.InitialCluster[c.Name]; c.PeerListen != "" && !slices.Equal(own, []string{c.peerURL()}) {
		errs = append(errs, fmt.Errorf("join: initial cluster lists %q at %q, want exactly its peer URL %q", c.Name, own, c.peerURL()))
	}
	for _, name := range slices.Sorted(maps.Keys(c.InitialCluster)) {
		if !memberNamePattern.MatchString(name) {
			errs = append(errs, fmt.Errorf("join: initial cluster member name %q is not a valid name", name))
		}
		for _, u := range c.InitialCluster[name] {
			if err := checkPeerURL(u, c.peerScheme()); err != nil {
				errs = append(errs, fmt.Errorf("join: initial cluster member %q: %w", name, err))
			}
		}
	}
	return errs
}

// validateBootstrap checks that the ways of starting a member that exclude
// each other are not combined.
func (c Config) validateBootstrap() []error {
	var errs []error
	if c.Join && c.ForceNewCluster {
		errs = append(errs, errors.New("force new cluster: not with join: a joining member has no data to recover"))
	}
	if c.Join && c.StartWithoutQuorum {
		errs = append(errs, errors.New("start without quorum: not with join: a joining member needs its cluster to answer"))
	}
	return errs
}

// clone returns a copy of c that shares no maps or slices with it.
func (c Config) clone() Config {
	if c.PeerTLS != nil {
		p := PeerTLS{Cert: slices.Clone(c.PeerTLS.Cert), Key: slices.Clone(c.PeerTLS.Key), CA: slices.Clone(c.PeerTLS.CA)}
		c.PeerTLS = &p
	}
	if c.InitialCluster != nil {
		ic := make(map[string][]string, len(c.InitialCluster))
		for name, urls := range c.InitialCluster {
			ic[name] = slices.Clone(urls)
		}
		c.InitialCluster = ic
	}
	return c
}

// peerScheme is https when peers authenticate with TLS.
func (c Config) peerScheme() string {
	if c.PeerTLS != nil {
		return "https"
	}
	return "http"
}

// peerURL is the URL this member advertises to its peers.
func (c Config) peerURL() string {
	host := c.PeerListen
	if host == "" {
		host = unlistenedPeerHost
	}
	return (&url.URL{Scheme: c.peerScheme(), Host: host}).String()
}

// checkPeerURL reports whether raw is a peer URL members of a cluster using
// scheme can use: scheme://IP:port and nothing else. The error wraps
// ErrInvalidPeerURL.
func checkPeerURL(raw, scheme string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w %q: %w", ErrInvalidPeerURL, raw, err)
	}
	if u.Scheme != scheme {
		return fmt.Errorf("%w %q: scheme must be %s, as for every peer of this member", ErrInvalidPeerURL, raw, scheme)
	}
	if canonical := (&url.URL{Scheme: u.Scheme, Host: u.Host}).String(); canonical != raw {
		return fmt.Errorf("%w %q: want only a scheme, an address and a port, like %q", ErrInvalidPeerURL, raw, canonical)
	}
	if err := validatePeerAddr(u.Host); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidPeerURL, err)
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
	if err := validatePeerAddr(hostPort); err != nil {
		return fmt.Errorf("peer listen: %w", err)
	}
	return nil
}

// validatePeerAddr checks that hostPort is an IP address peers can dial, and
// a port.
func validatePeerAddr(hostPort string) error {
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return err
	}
	var errs []error
	addr, err := netip.ParseAddr(host)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("%q: host must be an IP address", hostPort))
	case addr.IsUnspecified():
		errs = append(errs, fmt.Errorf("%q: host must be an address peers can reach, not a wildcard", hostPort))
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		errs = append(errs, fmt.Errorf("%q: port must be 1-65535", hostPort))
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
