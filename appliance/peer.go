package appliance

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/keywarden/keywarden/appliance/api"
	"github.com/keywarden/keywarden/cluster"
)

// filePeer holds the node's peer identity (its TLS certificate and key and the
// cluster CA) sealed under the device key. The store's peers must
// authenticate each other before the store can serve, so this cannot live in
// the store: a restarting member needs it first. The key never reaches the
// disk in plaintext, and etcd reads it from memory files (see cluster).
const filePeer = "peer.sealed"

// peerSealPath binds the sealed file to its role (the AEAD's associated data).
const peerSealPath = "keywarden/peer-tls/v1"

// peerIdentity builds the peer identity from the node's current TLS
// identity and the cluster CA, and checks it the way peers will. Every
// problem wraps api.ErrPrecondition: the operator has to fix the certificate
// or the configuration first.
func (a *Appliance) peerIdentity(caPEM []byte) (*cluster.PeerTLS, error) {
	if a.peerListen() == "" {
		return nil, fmt.Errorf("%w: this node has no peer address; start keywardend with --peer-listen HOST:PORT", api.ErrPrecondition)
	}
	id := a.TLS()
	key, err := id.PrivateKeyPEM()
	if err != nil {
		return nil, fmt.Errorf("%w: the cluster's peer transport needs the TLS key in memory, but %v; clustering nodes whose TLS key lives in a PKCS#11 token is not supported yet", api.ErrPrecondition, err)
	}
	p := &cluster.PeerTLS{Cert: id.CertPEM(), Key: key, CA: caPEM}
	if err := a.memberConfig(p).Validate(); err != nil {
		return nil, fmt.Errorf("%w: this node's TLS certificate cannot authenticate it to its peers: %v (the certificate must be signed by the cluster CA, allow server and client authentication, and name the peer address %s)", api.ErrPrecondition, err, a.peerListen())
	}
	return p, nil
}

// memberConfig is the store member's configuration: a lone member without a
// peer identity opens no peer port; a member with one listens for peers with
// mutual TLS and, when restarting while its peers are down, starts anyway so
// that the API can report the missing quorum.
func (a *Appliance) memberConfig(peer *cluster.PeerTLS) cluster.Config {
	c := cluster.Config{
		Name:    a.nodeID,
		DataDir: a.path(dirEtcd),
		Logger:  a.log.With("component", "etcd"),
	}
	if peer != nil {
		c.PeerListen = a.peerListen()
		c.PeerTLS = peer
		c.StartWithoutQuorum = true
	}
	return c
}

// peerFile is the JSON sealed in filePeer.
type peerFile struct {
	Cert []byte `json:"cert"`
	Key  []byte `json:"key"`
	CA   []byte `json:"ca"`
}

// savePeer seals p into the data directory.
func (a *Appliance) savePeer(p *cluster.PeerTLS) error { return a.savePeerAs(filePeer, p) }

// savePeerAs seals p into the data directory under name.
func (a *Appliance) savePeerAs(name string, p *cluster.PeerTLS) error {
	b, err := json.Marshal(peerFile{Cert: p.Cert, Key: p.Key, CA: p.CA})
	if err != nil {
		return err
	}
	defer clear(b)
	return writeFileAtomic(a.path(name), a.fileSealer.Seal(peerSealPath, b))
}

// loadPeer returns the sealed peer identity, or nil when this node never
// joined or founded a cluster with peers.
func (a *Appliance) loadPeer() (*cluster.PeerTLS, error) {
	sealed, err := os.ReadFile(a.path(filePeer))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the peer identity: %w", err)
	}
	b, err := a.fileSealer.Open(peerSealPath, sealed)
	if err != nil {
		return nil, fmt.Errorf("open the peer identity: %w", err)
	}
	defer clear(b)
	var f peerFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("decode the peer identity: %w", err)
	}
	return &cluster.PeerTLS{Cert: f.Cert, Key: f.Key, CA: f.CA}, nil
}

// peerIdentityFixed refuses a new TLS key and a new cluster CA while the
// store member authenticates its peers with them: the member would go on
// presenting the old key and trusting the old CA, so a rotated key would
// stay a valid peer credential. A new certificate for the same key is
// allowed (see SetTLSCertificate); rotating keys and CAs in a running
// cluster is not supported yet.
func (a *Appliance) peerIdentityFixed() error {
	if a.peered.Load() {
		return fmt.Errorf("%w: this node's TLS key and the cluster CA are its cluster peer identity, which cannot change while it listens for peers (a new certificate for the same key can be installed)", api.ErrPrecondition)
	}
	return nil
}
