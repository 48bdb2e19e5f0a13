package appliance

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/keywarden/keywarden/netcfg/timesync"

	"github.com/keywarden/keywarden/appliance/api"
	"github.com/keywarden/keywarden/appliance/keyring"
	"github.com/keywarden/keywarden/cluster"
)

const (
	// dirPrejoin holds the joiner's own store while it joins a cluster, so a
	// join that fails puts it back exactly as it was (also after a crash:
	// boot restores it).
	dirPrejoin = "etcd.prejoin"
	// dirDiscard is a joiner's old store once the join is committed; boot
	// deletes it if a crash left it behind.
	dirDiscard = "etcd.discard"
	// filePeerNext is the joiner's new peer identity until the join commits.
	filePeerNext = "peer.sealed.next"

	// joinTimeout bounds starting a joining member until it has caught up
	// as a learner.
	joinTimeout = 2 * time.Minute
	// promotionTimeout bounds how long a join waits for the cluster to
	// promote the new member (the voters do that by themselves once it has
	// caught up; see promoteLearners).
	promotionTimeout = time.Minute
)

// AddClusterMember implements api.Backend: it registers a learner at urls
// and returns the cluster's members and the joiner kit, sealed under the
// backup key. The first registration turns a lone appliance into a member
// that listens for peers with mutual TLS.
func (a *Appliance) AddClusterMember(ctx context.Context, urls []string) (api.ClusterMemberAdded, error) {
	var out api.ClusterMemberAdded
	a.opMu.Lock()
	defer a.opMu.Unlock()
	s := a.currentSession()
	if s == nil {
		return out, fmt.Errorf("%w: the appliance is not Operational", api.ErrPrecondition)
	}
	backup, err := a.backupKey(ctx, s)
	if err != nil {
		return out, err
	}
	ca, err := a.ClusterCA(ctx)
	if errors.Is(err, api.ErrNotFound) {
		return out, fmt.Errorf("%w: no cluster CA is set; set it first (PUT /config/tls/cluster-ca.pem)", api.ErrPrecondition)
	}
	if err != nil {
		return out, err
	}
	if err := a.enablePeers(ctx, ca); err != nil {
		return out, err
	}
	learner, members, err := a.member.AddLearner(ctx, urls)
	if err != nil {
		return out, err
	}
	kit, err := sealKit(backup, kitContents{
		MemberID: cluster.FormatMemberID(learner.ID),
		PeerURLs: learner.PeerURLs,
		Members:  members,
		CA:       ca,
		Issued:   a.Now(),
	})
	if err != nil {
		return out, err
	}
	a.log.Info("cluster member registered as a learner", "member", cluster.FormatMemberID(learner.ID), "urls", learner.PeerURLs)
	return api.ClusterMemberAdded{Members: apiMembers(members, true), JoinerKit: kit}, nil
}

// backupKey returns the cluster's backup key record; without one no member
// can be added, since the joiner kit is sealed under it.
func (a *Appliance) backupKey(ctx context.Context, s *session) (keyring.PassphraseHash, error) {
	var h keyring.PassphraseHash
	it, err := s.vault.Get(ctx, pathBackup)
	if errors.Is(err, cluster.ErrNotFound) {
		return h, fmt.Errorf("%w: no backup passphrase is set; set one first (PUT /config/backup-passphrase): backups and joiner kits are sealed under it", api.ErrPrecondition)
	}
	if err != nil {
		return h, err
	}
	if err := json.Unmarshal(it.Value, &h); err != nil {
		return h, fmt.Errorf("decode backup key: %w", err)
	}
	return h, nil
}

// enablePeers restarts a lone member so that it listens for peers with
// mutual TLS, with the node's TLS certificate and the cluster CA. It does
// nothing for a member that already does.
func (a *Appliance) enablePeers(ctx context.Context, ca []byte) error {
	old := a.member.Config()
	if old.PeerTLS != nil {
		return nil
	}
	peer, err := a.peerIdentity(ca)
	if err != nil {
		return err
	}
	if err := a.savePeer(peer); err != nil {
		return err
	}
	if err := a.member.Restart(ctx, a.memberConfig(peer)); err != nil {
		_ = os.Remove(a.path(filePeer))
		return errors.Join(fmt.Errorf("listen for cluster peers: %w", err), a.member.Restart(ctx, old))
	}
	a.peered.Store(true)
	a.log.Info("listening for cluster peers with mutual TLS", "peer", a.member.PeerURL())
	return nil
}

// JoinCluster implements api.Backend: this node gives up its own store and
// joins the cluster that registered it. Node-local configuration (TLS, clock
// offset, network, NTP, logging) is kept; the unattended-boot slot
// is not, since it seals the old domain key. The node ends Locked, unlockable
// with the cluster's unlock passphrase. A join that fails before the new
// member has synchronised puts everything back and the node stays
// Operational.
func (a *Appliance) JoinCluster(ctx context.Context, req api.ClusterJoin) error {
	a.opMu.Lock()
	defer a.opMu.Unlock()
	s := a.currentSession()
	if s == nil {
		return fmt.Errorf("%w: the appliance is not Operational", api.ErrPrecondition)
	}
	kit, err := openKit(req.JoinerKit, req.BackupPassphrase, a.Now())
	if err != nil {
		return err
	}
	plan, err := a.planJoin(ctx, req, kit)
	if err != nil {
		return err
	}
	// From here on the join runs to its end, or is undone, even if the
	// client goes away.
	ctx = context.WithoutCancel(ctx)
	if err := a.savePeerAs(filePeerNext, plan.peer); err != nil {
		return fmt.Errorf("prepare the peer identity: %w", err)
	}
	domainKey := bytes.Clone(s.domainKey)
	defer clear(domainKey)
	a.closeSession()
	a.setState(api.Locked, "joining a cluster")
	a.setJoinStage("creating") // the quorum watch stands by until ""
	defer a.setJoinStage("")
	if err := a.switchToJoin(ctx, plan); err != nil {
		_ = os.Remove(a.path(filePeerNext))
		a.log.Warn("cluster join failed; this node's own store is back", "err", err)
		if oerr := a.openSession(bytes.Clone(domainKey)); oerr != nil {
			a.fail("a failed cluster join could not be undone", oerr)
		}
		return fmt.Errorf("%w: the cluster did not take this node in, and it is back as it was (Operational, its own keys and users): %v", api.ErrPrecondition, err)
	}
	if err := a.commitJoin(); err != nil {
		// The joined store runs; only the next boot could get confused.
		a.log.Error("joined, but the data directory was not fully switched over; do not restart before it is", "err", err)
	}
	a.log.Warn("joined the cluster: this node's previous keys, users and configuration are gone", "member", plan.memberID)
	return a.completeJoin(ctx, plan)
}

// commitJoin makes the join permanent in the data directory, in an order
// that boot can complete or undo after a crash at any point (see
// recoverPrejoin): first the old store is renamed out of the way (from then
// on boot keeps the joined store), then the new peer identity replaces the
// old, then the old store is deleted.
func (a *Appliance) commitJoin() error {
	if err := os.Rename(a.path(dirPrejoin), a.path(dirDiscard)); err != nil {
		return fmt.Errorf("retire the old store: %w", err)
	}
	if err := os.Rename(a.path(filePeerNext), a.path(filePeer)); err != nil {
		return fmt.Errorf("install the peer identity: %w", err)
	}
	if err := syncDir(a.cfg.DataDir); err != nil {
		return err
	}
	return os.RemoveAll(a.path(dirDiscard))
}

// joinPlan is everything a join needs, checked before anything changes.
type joinPlan struct {
	memberID string
	peer     *cluster.PeerTLS
	initial  map[string][]string
	local    []cluster.Entry // node-local entries to carry over (sealed)
}

// planJoin checks a join request against this node and the opened kit.
func (a *Appliance) planJoin(ctx context.Context, req api.ClusterJoin, kit kitContents) (joinPlan, error) {
	var p joinPlan
	ownCA, err := a.ClusterCA(ctx)
	if errors.Is(err, api.ErrNotFound) {
		return p, fmt.Errorf("%w: no cluster CA is set on this node; set the cluster's CA first (PUT /config/tls/cluster-ca.pem)", api.ErrPrecondition)
	}
	if err != nil {
		return p, err
	}
	if !sameCertificate(ownCA, kit.CA) {
		return p, fmt.Errorf("%w: the cluster's CA differs from this node's cluster CA; install the cluster's CA and a certificate it signed first", api.ErrBadRequest)
	}
	if p.peer, err = a.peerIdentity(ownCA); err != nil {
		return p, err
	}
	if own := "https://" + a.peerListen(); !slices.Equal(kit.PeerURLs, []string{own}) {
		return p, fmt.Errorf("%w: the kit registers this node at %v, but it listens for peers at %s", api.ErrBadRequest, kit.PeerURLs, own)
	}
	if err := sameMembers(req.Members, kit.Members); err != nil {
		return p, err
	}
	if err := checkJoinClocks(ctx, p.peer, kit.Members, kit.PeerURLs); err != nil {
		return p, err
	}
	if members, err := a.member.Members(ctx); err != nil {
		return p, err
	} else if len(members) > 1 {
		return p, fmt.Errorf("%w: this node is already a member of a cluster of %d; remove it from that cluster and factory-reset it first", api.ErrPrecondition, len(members))
	}
	id, err := cluster.ParseMemberID(kit.MemberID)
	if err != nil {
		return p, fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	p.memberID = kit.MemberID
	if p.initial, err = cluster.InitialClusterFor(kit.Members, id, a.nodeID); err != nil {
		return p, fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	entries, err := a.kv.List(ctx, a.localPath(""))
	if err != nil {
		return p, err
	}
	for _, e := range entries {
		if e.Key != a.localPath("unattended") {
			p.local = append(p.local, e)
		}
	}
	return p, nil
}

// switchToJoin moves the node's store aside and starts a member that joins
// the cluster. On failure it puts the old store back and restarts it.
func (a *Appliance) switchToJoin(ctx context.Context, p joinPlan) error {
	old := a.member.Config()
	a.setJoinStage("creating")
	if err := a.member.Stop(); err != nil {
		return errors.Join(fmt.Errorf("stop the store: %w", err), a.member.Restart(ctx, old))
	}
	if err := os.Rename(a.path(dirEtcd), a.path(dirPrejoin)); err != nil {
		return errors.Join(fmt.Errorf("move the store aside: %w", err), a.member.Restart(ctx, old))
	}
	cfg := a.memberConfig(p.peer)
	cfg.Join, cfg.InitialCluster, cfg.StartWithoutQuorum = true, p.initial, false
	jctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	a.setJoinStage("bootstrapping") // contacting the cluster and the initial sync
	err := a.member.Restart(jctx, cfg)
	if err == nil {
		a.peered.Store(true)
		return nil
	}
	return errors.Join(fmt.Errorf("join the cluster: %w", err), a.restorePrejoin(ctx, old))
}

// restorePrejoin puts the store that was moved aside for a join back and
// restarts it with cfg.
func (a *Appliance) restorePrejoin(ctx context.Context, cfg cluster.Config) error {
	if err := os.RemoveAll(a.path(dirEtcd)); err != nil {
		return fmt.Errorf("remove the failed join's store: %w", err)
	}
	if err := os.Rename(a.path(dirPrejoin), a.path(dirEtcd)); err != nil {
		return fmt.Errorf("put the store back: %w", err)
	}
	if err := a.member.Restart(ctx, cfg); err != nil {
		return err
	}
	a.peered.Store(cfg.PeerTLS != nil)
	return nil
}

// recoverPrejoin runs at boot and finishes or undoes a join a crash
// interrupted. A store moved aside (etcd.prejoin) means the join had not
// been committed: the node's own store comes back. Otherwise a new peer
// identity still waiting means the commit had begun: it is completed. A
// retired store (etcd.discard) is deleted.
func (a *Appliance) recoverPrejoin() error {
	_, err := os.Stat(a.path(dirPrejoin))
	switch {
	case err == nil:
		a.log.Warn("an interrupted cluster join was found; restoring this node's own store")
		if err := os.RemoveAll(a.path(dirEtcd)); err != nil {
			return err
		}
		if err := os.Rename(a.path(dirPrejoin), a.path(dirEtcd)); err != nil {
			return err
		}
		if err := os.Remove(a.path(filePeerNext)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	case errors.Is(err, os.ErrNotExist):
		if _, err := os.Stat(a.path(filePeerNext)); err == nil {
			a.log.Warn("completing a cluster join that a crash interrupted")
			if err := os.Rename(a.path(filePeerNext), a.path(filePeer)); err != nil {
				return err
			}
		}
	default:
		return err
	}
	return os.RemoveAll(a.path(dirDiscard))
}

// completeJoin waits for the promotion, writes the node-local configuration
// into the cluster and leaves the node Locked.
func (a *Appliance) completeJoin(ctx context.Context, p joinPlan) error {
	pctx, cancel := context.WithTimeout(ctx, promotionTimeout)
	defer cancel()
	a.setJoinStage("catching up")
	if err := a.member.AwaitPromotion(pctx); err != nil {
		a.setPendingLocal(p.local)
		a.setState(api.Locked, "joined as a learner; waiting for the cluster to promote it")
		return fmt.Errorf("%w: joined the cluster as learner %s, but it was not promoted within %v; the node finishes by itself once a member promotes it (POST /cluster/members/%s/promote, or GET /cluster/status to see why not)", api.ErrAccepted, p.memberID, promotionTimeout, p.memberID)
	}
	a.setJoinStage("completing")
	if err := a.writeLocal(ctx, p.local); err != nil {
		a.setPendingLocal(p.local)
		a.log.Warn("joined; node-local configuration will be written once the store accepts it", "err", err)
	}
	a.setState(api.Locked, "")
	return nil
}

// writeLocal stores node-local entries (already sealed under the device key)
// as they are.
func (a *Appliance) writeLocal(ctx context.Context, entries []cluster.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	ops := make([]cluster.Op, len(entries))
	for i, e := range entries {
		ops[i] = cluster.Put(e.Key, e.Value)
	}
	_, err := a.kv.Txn(ctx, nil, ops)
	return err
}

func (a *Appliance) setPendingLocal(entries []cluster.Entry) {
	a.mu.Lock()
	a.pendingLocal = entries
	a.mu.Unlock()
}

// PromoteClusterMember implements api.Backend.
func (a *Appliance) PromoteClusterMember(ctx context.Context, id string) error {
	mid, err := cluster.ParseMemberID(id)
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return a.member.Promote(pctx, mid)
}

// UpdateClusterMember implements api.Backend.
func (a *Appliance) UpdateClusterMember(ctx context.Context, id string, urls []string) error {
	mid, err := cluster.ParseMemberID(id)
	if err != nil {
		return err
	}
	return a.member.UpdatePeerURLs(ctx, mid, urls)
}

// RemoveClusterMember implements api.Backend.
func (a *Appliance) RemoveClusterMember(ctx context.Context, id string) error {
	mid, err := cluster.ParseMemberID(id)
	if err != nil {
		return err
	}
	if mid == a.member.ID() {
		return fmt.Errorf("%w: member %s is this node; remove it through another member", api.ErrPrecondition, id)
	}
	if err := a.member.Remove(ctx, mid); err != nil {
		return err
	}
	a.log.Warn("cluster member removed", "member", id)
	return nil
}

// ForceNewCluster implements api.Backend: after permanent quorum loss, the
// member restarts as a cluster of one with the data it has. Writes that only
// the lost members received are gone. The node returns to the state it had
// before the quorum was lost.
func (a *Appliance) ForceNewCluster(ctx context.Context) error {
	a.opMu.Lock()
	defer a.opMu.Unlock()
	if st, _ := a.State(); st != api.Failed {
		return fmt.Errorf("%w: the appliance is %s; force-new is for a Failed cluster member", api.ErrPrecondition, st)
	}
	if a.member == nil || a.member.Config().PeerTLS == nil {
		return fmt.Errorf("%w: this node is not a member of a cluster with peers", api.ErrPrecondition)
	}
	if !a.quorumLost() {
		return fmt.Errorf("%w: this node is Failed for another reason than a lost quorum (see GET /health/state); force-new would not help", api.ErrPrecondition)
	}
	if err := a.probeStore(ctx); err == nil {
		return fmt.Errorf("%w: the store has quorum again; the node recovers by itself", api.ErrPrecondition)
	}
	cfg := a.member.Config()
	cfg.ForceNewCluster = true
	a.log.Warn("force-new: restarting the store as a cluster of one with the data on this node")
	// The restart must finish even if the client goes away.
	if err := a.member.Restart(context.WithoutCancel(ctx), cfg); err != nil {
		return fmt.Errorf("force-new: %w", err)
	}
	return nil // the quorum watch restores the state the node had
}

// sameCertificate reports whether two PEM certificates are the same
// certificate.
func sameCertificate(a, b []byte) bool {
	da, _ := pem.Decode(a)
	db, _ := pem.Decode(b)
	if da == nil || db == nil {
		return false
	}
	ca, err1 := x509.ParseCertificate(da.Bytes)
	cb, err2 := x509.ParseCertificate(db.Bytes)
	return err1 == nil && err2 == nil && ca.Equal(cb)
}

// sameMembers checks that the members a join request names are the ones the
// kit sealed (the request repeats them for compatibility; the kit's are
// authenticated).
func sameMembers(req []api.ClusterMember, kit []cluster.MemberInfo) error {
	urls := func(n int, at func(int) []string) []string {
		var out []string
		for i := range n {
			out = append(out, at(i)...)
		}
		slices.Sort(out)
		return out
	}
	got := urls(len(req), func(i int) []string { return req[i].URLs })
	want := urls(len(kit), func(i int) []string { return kit[i].PeerURLs })
	if !slices.Equal(got, want) {
		return fmt.Errorf("%w: members do not match the joiner kit (pass the members and joinerKit of the POST /cluster/members response unchanged)", api.ErrBadRequest)
	}
	return nil
}

// apiMembers converts members for the API. A lone appliance advertises no
// peer URL (its member opens no peer port) unless it listens for peers.
func apiMembers(members []cluster.MemberInfo, withURLs bool) []api.ClusterMember {
	out := make([]api.ClusterMember, 0, len(members))
	for _, m := range members {
		urls := []string{}
		if withURLs || len(members) > 1 {
			urls = append(urls, m.PeerURLs...)
		}
		out = append(out, api.ClusterMember{ID: cluster.FormatMemberID(m.ID), Name: m.Name, URLs: urls, Learner: m.IsLearner})
	}
	return out
}

// setJoinStage records where a join is, for GET /cluster/status on the
// joiner; "" when no join runs.
func (a *Appliance) setJoinStage(stage string) {
	a.mu.Lock()
	a.joinStage = stage
	a.mu.Unlock()
}

// checkJoinClocks refuses to join a cluster whose members' clocks differ
// from this node's by more than the skew threshold: the new member would
// raise the skew alarm at once, and etcd leases and certificate checks need
// agreeing clocks. It compares the hosts' clocks (what every member's peer
// port reports), which are the appliances' clocks when they set the system
// clock; appliances keeping a node-local offset are compared by the skew
// alarm once joined. A cluster none of whose members answers fails here too,
// before anything changes.
func checkJoinClocks(ctx context.Context, peer *cluster.PeerTLS, members []cluster.MemberInfo, own []string) error {
	var urls []string
	names := map[string]string{}
	for _, m := range members {
		if slices.Equal(m.PeerURLs, own) || len(m.PeerURLs) == 0 {
			continue
		}
		urls = append(urls, m.PeerURLs[0])
		names[m.PeerURLs[0]] = cluster.FormatMemberID(m.ID)
	}
	offsets, err := cluster.PeerClockOffsets(ctx, *peer, urls)
	if len(offsets) == 0 {
		return fmt.Errorf("%w: no member of the cluster answers this node's peer requests (%v); this node is unchanged", api.ErrPrecondition, err)
	}
	byMember := map[string]time.Duration{}
	for u, d := range offsets {
		byMember[names[u]] = d
	}
	if err := timesync.CheckJoinSkew(byMember, timesync.DefaultSkewThreshold); err != nil {
		return fmt.Errorf("%w: %v; set the clocks (NTP) before joining; this node is unchanged", api.ErrPrecondition, err)
	}
	return nil
}

// joinRunning reports whether a cluster join is under way.
func (a *Appliance) joinRunning() bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.joinStage != ""
}
