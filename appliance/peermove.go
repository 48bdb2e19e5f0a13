package appliance

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/keywarden/keywarden/appliance/api"
	"github.com/keywarden/keywarden/appliance/tlsconf"
	"github.com/keywarden/keywarden/cluster"
	"github.com/keywarden/keywarden/netcfg"
)

// A network change can take away the address this node's cluster peers
// reach it on. The node then moves with it: the cluster records the new
// peer URL (while the old address still works and the cluster has quorum),
// the node's certificate is made to name the new address (reissued by the
// cluster's own CA when the current one does not), the new address is
// stored in the data directory, where it overrides --peer-listen from then
// on, and once the kernel has the new address the store member restarts
// listening on it.

// filePeerAddress holds the peer address a network change moved this node
// to, sealed under the device key like the other files boot reads before
// the store runs.
const (
	filePeerAddress     = "peer-address.sealed"
	peerAddressSealPath = "keywarden/peer-address/v1"
)

// peerListen is where this node listens for cluster peers: the address a
// network change moved it to, else --peer-listen ("" for none).
func (a *Appliance) peerListen() string {
	if p := a.movedPeer.Load(); p != nil {
		return *p
	}
	return a.cfg.PeerListen
}

// loadPeerAddress reads the moved peer address, if any, at boot.
func (a *Appliance) loadPeerAddress() error {
	a.movedPeer.Store(nil)
	sealed, err := os.ReadFile(a.path(filePeerAddress))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the peer address: %w", err)
	}
	b, err := a.fileSealer.Open(peerAddressSealPath, sealed)
	if err != nil {
		return fmt.Errorf("open the peer address: %w", err)
	}
	addr := string(b)
	if !hostIsLocal(addr) && hostIsLocal(a.cfg.PeerListen) {
		// A crash between storing the move and storing the network: the
		// node came back on its old address (its certificate names both).
		a.log.Warn("the moved peer address is not on this machine; listening on --peer-listen", "moved", addr, "flag", a.cfg.PeerListen)
		return nil
	}
	if addr != a.cfg.PeerListen {
		a.log.Info("listening for peers on the address a network change moved this node to, not --peer-listen", "peer", addr, "flag", a.cfg.PeerListen)
	}
	a.movedPeer.Store(&addr)
	return nil
}

// hostIsLocal reports whether the host of hostPort is an address of this
// machine (of its network namespace).
func hostIsLocal(hostPort string) bool {
	host, _, err := net.SplitHostPort(hostPort)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	addrs, err := net.InterfaceAddrs()
	if ip == nil || err != nil {
		return false
	}
	return slices.ContainsFunc(addrs, func(a net.Addr) bool {
		n, ok := a.(*net.IPNet)
		return ok && n.IP.Equal(ip)
	})
}

// storePeerAddress makes addr the peer address from now on.
func (a *Appliance) storePeerAddress(addr string) error {
	if err := writeFileAtomic(a.path(filePeerAddress), a.fileSealer.Seal(peerAddressSealPath, []byte(addr))); err != nil {
		return err
	}
	a.movedPeer.Store(&addr)
	return nil
}

// peerMove is a planned move of the peer address.
type peerMove struct {
	from, to string // host:port
	// cert is the node's identity with a certificate naming the new
	// address, when the current one does not; nil otherwise.
	cert *tlsconf.Identity
}

// planPeerMove returns the move a change to c makes necessary: nil when
// the peer address is not on the managed interface or c keeps it. It
// refuses (api.ErrPrecondition) a change that leaves no address of the same
// family to move to, or whose new address the node's certificate does not
// name and the cluster cannot certify.
func (a *Appliance) planPeerMove(ctx context.Context, c netcfg.Config) (*peerMove, error) {
	from := a.peerListen()
	host, port, err := net.SplitHostPort(from)
	if err != nil {
		return nil, nil // no peer address
	}
	old, err := netip.ParseAddr(host)
	if err != nil {
		return nil, nil
	}
	before, ok := a.net.Desired()
	if !ok {
		if before, err = a.net.Current(ctx); err != nil {
			return nil, err
		}
	}
	if !slices.Contains(before.Addresses(), old) || slices.Contains(c.Addresses(), old) {
		return nil, nil
	}
	i := slices.IndexFunc(c.Addresses(), func(n netip.Addr) bool { return n.Is4() == old.Is4() && n.IsGlobalUnicast() })
	if i < 0 {
		return nil, fmt.Errorf("%w: this change removes %s, the address the cluster peers reach this node on, and leaves the interface no global address of that family to move them to", api.ErrPrecondition, old)
	}
	to := c.Addresses()[i]
	mv := &peerMove{from: from, to: net.JoinHostPort(to.String(), port)}
	if !a.peered.Load() || a.TLS().Certificate().Leaf.VerifyHostname(to.String()) == nil {
		return mv, nil
	}
	if mv.cert, err = a.certifyPeerAddress(ctx, old, to); err != nil {
		return nil, err
	}
	return mv, nil
}

// certifyPeerAddress returns the node's TLS identity with a certificate
// from the cluster's own CA that names to as well as old: until the move is
// complete the member may have to listen on either (a crash midway).
func (a *Appliance) certifyPeerAddress(ctx context.Context, old, to netip.Addr) (*tlsconf.Identity, error) {
	s := a.currentSession()
	if s == nil {
		return nil, fmt.Errorf("%w: the appliance is not Operational", api.ErrPrecondition)
	}
	ca, caKey, err := a.clusterCAKey(ctx, s)
	if err != nil {
		return nil, fmt.Errorf("%w: this node's TLS certificate does not name %s, the address its cluster peers would reach it on, and the cluster cannot certify it: %v. Install a certificate for this node's key that names both addresses (PUT /config/tls/cert.pem) first", api.ErrPrecondition, to, err)
	}
	leaf := a.TLS().Certificate().Leaf
	ips := append(slices.Clone(leaf.IPAddresses), to.AsSlice())
	chain, err := issuePeerCert(ca, caKey, leaf.PublicKey, leaf.Subject.CommonName, leaf.DNSNames, ips, a.Now())
	if err != nil {
		return nil, err
	}
	return a.withCertificate(ctx, chain)
}

// clusterCAKey returns the cluster's own CA and its key; errors wrap
// api.ErrPrecondition when there is none.
func (a *Appliance) clusterCAKey(ctx context.Context, s *session) (*x509.Certificate, crypto.Signer, error) {
	caPEM, err := s.vault.Get(ctx, pathClusterCA)
	if errors.Is(err, cluster.ErrNotFound) {
		return nil, nil, fmt.Errorf("%w: no cluster CA is set; generate one (POST /cluster/ca/generate)", api.ErrPrecondition)
	}
	if err != nil {
		return nil, nil, err
	}
	keyItem, err := s.vault.Get(ctx, pathClusterCAKey)
	if errors.Is(err, cluster.ErrNotFound) {
		return nil, nil, fmt.Errorf("%w: the cluster CA was set from outside and its key is not in the cluster; sign with that CA's key", api.ErrPrecondition)
	}
	if err != nil {
		return nil, nil, err
	}
	defer clear(keyItem.Value)
	parsed, err := x509.ParsePKCS8PrivateKey(keyItem.Value)
	if err != nil {
		return nil, nil, fmt.Errorf("decode the cluster CA key: %w", err)
	}
	caKey, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("the cluster CA key is a %T, not a signing key", parsed)
	}
	cb, _ := pem.Decode(caPEM.Value)
	if cb == nil {
		return nil, nil, errors.New("the stored cluster CA is not PEM")
	}
	caCert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("decode the cluster CA: %w", err)
	}
	return caCert, caKey, nil
}

// startPeerMove does everything a move needs before the network changes:
// the cluster's record of this member (a node with peers), the certificate
// and the stored address. A failure undoes what was done; so does the
// returned undo, for a failure after it.
func (a *Appliance) startPeerMove(ctx context.Context, mv *peerMove) (undo func() error, err error) {
	var steps []func() error
	undo = func() error {
		var errs []error
		for _, f := range slices.Backward(steps) {
			errs = append(errs, f())
		}
		return errors.Join(errs...)
	}
	defer func() {
		if err != nil {
			if uerr := undo(); uerr != nil {
				err = errors.Join(err, fmt.Errorf("undo: %w", uerr))
			}
		}
	}()
	if a.peered.Load() {
		if err := a.member.UpdatePeerURLs(ctx, a.member.ID(), []string{"https://" + mv.to}); err != nil {
			return nil, fmt.Errorf("record this member's new peer address in the cluster: %w", err)
		}
		steps = append(steps, func() error {
			uctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return a.member.UpdatePeerURLs(uctx, a.member.ID(), []string{"https://" + mv.from})
		})
	}
	if mv.cert != nil {
		oldID, oldPeer := a.TLS(), a.member.Config().PeerTLS
		peer := &cluster.PeerTLS{Cert: mv.cert.CertPEM(), Key: oldPeer.Key, CA: oldPeer.CA}
		if err := a.savePeer(peer); err != nil {
			return nil, err
		}
		steps = append(steps, func() error { return a.savePeer(oldPeer) })
		if err := a.installTLS(ctx, mv.cert); err != nil {
			return nil, err
		}
		steps = append(steps, func() error { return a.installTLS(context.Background(), oldID) })
	}
	old := a.movedPeer.Load()
	if err := a.storePeerAddress(mv.to); err != nil {
		return nil, err
	}
	steps = append(steps, func() error {
		if old == nil {
			a.movedPeer.Store(nil)
			return os.Remove(a.path(filePeerAddress))
		}
		return a.storePeerAddress(*old)
	})
	a.log.Info("the cluster peer address moves with the network change", "from", mv.from, "to", mv.to, "reissuedCertificate", mv.cert != nil)
	return undo, nil
}

// peerRestartWait bounds how long settlePeerListener retries: a new IPv6
// address cannot be bound until duplicate address detection is over.
const peerRestartWait = 30 * time.Second

// settlePeerListener restarts the store member when it listens for peers
// elsewhere than the peer address, after a move once the kernel has the new
// address. If the member cannot listen there within peerRestartWait, it
// goes back to its previous listener, so that it keeps serving. a.netMu
// must be held.
func (a *Appliance) settlePeerListener(ctx context.Context) {
	prev := a.member.Config()
	if prev.PeerTLS == nil || prev.PeerListen == a.peerListen() {
		return
	}
	err := a.listenOnMovedPeer(ctx)
	if err == nil {
		a.log.Info("listening for cluster peers on the new address", "peer", a.member.PeerURL())
		return
	}
	a.log.Error("the store member could not listen for peers on the new address; it goes back to the previous one, and the node moves at its next start", "peer", a.peerListen(), "err", err)
	if rerr := a.member.Restart(ctx, prev); rerr != nil {
		a.log.Error("the store member could not restart on its previous peer address either", "err", rerr)
	}
}

// listenOnMovedPeer restarts the store member on the peer address, trying
// again every second for peerRestartWait while the kernel cannot bind it.
func (a *Appliance) listenOnMovedPeer(ctx context.Context) error {
	peer, err := a.loadPeer()
	if err == nil && peer == nil {
		err = errors.New("no peer identity is stored")
	}
	if err != nil {
		return err
	}
	deadline := time.Now().Add(peerRestartWait)
	for {
		err := a.member.Restart(ctx, a.memberConfig(peer))
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		a.log.Debug("the store member cannot listen on the new peer address yet; retrying", "err", err)
		time.Sleep(time.Second)
	}
}
