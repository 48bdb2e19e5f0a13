package cluster

import (
	"crypto/rand"
	"maps"
	"net/url"
	"slices"
	"strings"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

const (
	// compactionRetention keeps an hour of history: enough for a watcher that
	// reconnects to resume, small enough that the store does not grow with
	// every rewrite of the same key.
	compactionRetention = "1h"

	// unlistenedPeerHost is what a single appliance advertises as its peer
	// URL. It opens no listener there, so two members on one machine cannot
	// clash; anything that tries to dial it fails at once. To accept members
	// later, the appliance restarts it with PeerListen set: etcd opens
	// listeners only when it starts, and Start then moves the lone member's
	// recorded peer URL onto the listener (see adoptPeerURL).
	unlistenedPeerHost = "127.0.0.1:1"

	// soloTickMs and soloElectionMs replace etcd's 100/1000 ms for a member
	// without peers. A lone member elects itself after a random 1 to 10
	// ticks, so these ticks make Start (and the appliance's READY) about five
	// times faster. Heartbeats go nowhere, so the shorter tick costs only
	// wake-ups. Members with peers keep etcd's defaults, tuned for networks.
	soloTickMs     = 20
	soloElectionMs = 200
)

// etcdConfig translates c into etcd's configuration. socket is the absolute
// client socket path; peer holds the PEM files of c.PeerTLS (nil without);
// lg receives etcd's logs.
func etcdConfig(c Config, socket string, peer *peerFiles, lg *zap.Logger) *embed.Config {
	ec := embed.NewConfig()
	ec.Name = c.Name
	ec.Dir = c.DataDir
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(lg)

	clientURL := url.URL{Scheme: "unix", Path: socket}
	ec.ListenClientUrls = []url.URL{clientURL}
	ec.AdvertiseClientUrls = []url.URL{clientURL}
	// The JSON gateway would be a second way in (and dials the socket
	// itself); the daemon speaks gRPC only.
	ec.EnableGRPCGateway = false
	ec.ListenMetricsUrls = nil

	configurePeers(ec, c)
	configurePeerSecurity(ec, peer)
	configureBootstrap(ec, c)

	ec.AutoCompactionMode = embed.CompactorModePeriodic
	ec.AutoCompactionRetention = compactionRetention
	ec.StrictReconfigCheck = true
	return ec
}

// configurePeers sets where the member listens for and advertises itself to
// peers. Without PeerListen it listens nowhere: a single member never talks
// to a peer, and etcd cannot put a peer socket at an absolute path.
func configurePeers(ec *embed.Config, c Config) {
	u, _ := url.Parse(c.peerURL()) // built by peerURL, so it parses
	ec.AdvertisePeerUrls = []url.URL{*u}
	if c.PeerListen == "" {
		ec.TickMs, ec.ElectionMs = soloTickMs, soloElectionMs
		ec.ListenPeerUrls = nil
		return
	}
	ec.ListenPeerUrls = []url.URL{*u}
}

// configurePeerSecurity makes peers talk https with client certificates
// required on both sides when the member has a peer identity.
func configurePeerSecurity(ec *embed.Config, peer *peerFiles) {
	if peer != nil {
		ec.PeerTLSInfo = peer.tlsInfo()
	}
}

// configureBootstrap says how etcd starts a data dir that holds no member
// yet: founding a cluster of its own, or joining one. etcd ignores all of it
// once the data dir holds a member, except ForceNewCluster, which only
// applies to such a data dir.
func configureBootstrap(ec *embed.Config, c Config) {
	ec.ForceNewCluster = c.ForceNewCluster
	if c.Join {
		ec.InitialCluster = initialClusterFlag(c.InitialCluster)
		ec.ClusterState = embed.ClusterStateFlagExisting
		return
	}
	// etcd derives member and cluster IDs from the token, so a random token
	// means two appliances bootstrapped alone can never pass for one cluster.
	ec.InitialClusterToken = "keywarden-" + rand.Text()
	ec.InitialCluster = ec.InitialClusterFromName(c.Name)
	ec.ClusterState = embed.ClusterStateFlagNew
}

// initialClusterFlag writes members in etcd's "name=url,name=url" syntax,
// sorted so that the same members always give the same text.
func initialClusterFlag(members map[string][]string) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(members)) {
		for _, u := range members[name] {
			parts = append(parts, name+"="+u)
		}
	}
	return strings.Join(parts, ",")
}
