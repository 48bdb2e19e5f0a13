package cluster

import (
	"crypto/rand"
	"net/url"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

const (
	// compactionRetention keeps an hour of history: enough for a watcher that
	// reconnects to resume, small enough that the store does not grow with
	// every rewrite of the same key.
	compactionRetention = "1h"

	// peerScheme is plain http until peers authenticate each other with
	// mutual TLS; see configurePeerSecurity.
	peerScheme = "http"

	// unlistenedPeerHost is what a single appliance advertises as its peer
	// URL. It opens no listener there, so two members on one machine cannot
	// clash; anything that tries to dial it fails at once. Joining a cluster
	// later means restarting with PeerListen set and updating the member's
	// peer URL.
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
// client socket path; lg receives etcd's logs.
func etcdConfig(c Config, socket string, lg *zap.Logger) *embed.Config {
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

	configurePeers(ec, c.PeerListen)
	configurePeerSecurity(ec)
	// etcd only reads the token when it bootstraps a new data dir. It
	// derives member and cluster IDs from it, so a random token means two
	// appliances bootstrapped alone can never pass for one cluster.
	ec.InitialClusterToken = "keywarden-" + rand.Text()
	ec.InitialCluster = ec.InitialClusterFromName(c.Name)
	ec.ClusterState = embed.ClusterStateFlagNew

	ec.AutoCompactionMode = embed.CompactorModePeriodic
	ec.AutoCompactionRetention = compactionRetention
	ec.StrictReconfigCheck = true
	return ec
}

// configurePeers sets where the member listens for and advertises itself to
// peers. Without peerListen it listens nowhere: a single member never talks to
// a peer, and etcd cannot put a peer socket at an absolute path.
func configurePeers(ec *embed.Config, peerListen string) {
	if peerListen == "" {
		ec.TickMs, ec.ElectionMs = soloTickMs, soloElectionMs
		ec.ListenPeerUrls = nil
		ec.AdvertisePeerUrls = []url.URL{{Scheme: peerScheme, Host: unlistenedPeerHost}}
		return
	}
	u := url.URL{Scheme: peerScheme, Host: peerListen}
	ec.ListenPeerUrls = []url.URL{u}
	ec.AdvertisePeerUrls = []url.URL{u}
}

// configurePeerSecurity is where peer mutual TLS will be configured
// (ec.PeerTLSInfo with the node certificate, the cluster CA and client-cert
// auth, and peerScheme switched to https). Until then peers talk plain http.
func configurePeerSecurity(ec *embed.Config) {}
