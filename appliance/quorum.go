package appliance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/keywarden/keywarden/appliance/api"
	"github.com/keywarden/keywarden/appliance/tlsconf"
	"github.com/keywarden/keywarden/cluster"
)

const (
	// quorumPoll is how often the store is probed.
	quorumPoll = time.Second
	// quorumProbeTimeout bounds one probe: a store with quorum answers a
	// linearizable read in milliseconds.
	quorumProbeTimeout = 2 * time.Second
	// quorumGrace is how long the store may fail before the node enters
	// Failed: long enough to ride out a leader election (about one second
	// with etcd's defaults), short enough that Failed follows quorum loss
	// within the 15 s the appliance promises (grace + one probe + one poll).
	quorumGrace = 5 * time.Second
)

// quorumState is the part of the state machine the quorum watch owns. It is
// guarded by Appliance.mu.
type quorumState struct {
	// lost is set while the node is Failed because its store has no quorum;
	// only then does the watch restore prev by itself.
	lost bool
	prev api.State
	// pendingBoot is set when boot could not read the store at all (the node
	// restarted while its peers were down); boot finishes once it can.
	pendingBoot bool
}

// watchQuorum probes the store until ctx ends. A store that fails for
// quorumGrace puts the node in Failed; once it answers again the node
// returns to where it was (Operational keeps its session meanwhile, but the
// API refuses every key operation while Failed). On a healthy leader it also
// promotes learners that have caught up and writes node-local entries a
// join left pending.
func (a *Appliance) watchQuorum(ctx context.Context) {
	ticker := time.NewTicker(quorumPoll)
	defer ticker.Stop()
	var failingSince, lastHeartbeat time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		if a.joinRunning() {
			failingSince = time.Time{}
			continue
		}
		err := a.probeStore(ctx)
		switch {
		case err == nil:
			failingSince = time.Time{}
			a.storeAnswers(ctx)
			if a.peered.Load() && time.Since(lastHeartbeat) >= heartbeatEvery {
				a.writeHeartbeat(ctx)
				lastHeartbeat = time.Now()
			}
		case ctx.Err() != nil:
			return
		case failingSince.IsZero():
			failingSince = time.Now()
		case time.Since(failingSince) >= quorumGrace:
			a.storeLost(err)
		}
	}
}

// probeStore makes one linearizable read, which needs a leader and a quorum.
// A learner cannot serve reads yet, but that is a join in progress, not a
// lost quorum.
func (a *Appliance) probeStore(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, quorumProbeTimeout)
	defer cancel()
	if st, err := a.member.Status(pctx); err == nil && st.IsLearner {
		return nil
	}
	_, err := a.kv.Get(pctx, pathUnlockSlot)
	if errors.Is(err, cluster.ErrNotFound) {
		return nil
	}
	return err
}

// storeLost enters Failed, unless a state transition is running or the node
// already is Failed for another reason.
func (a *Appliance) storeLost(err error) {
	if !a.opMu.TryLock() {
		return
	}
	defer a.opMu.Unlock()
	a.mu.Lock()
	if a.state == api.Failed {
		a.mu.Unlock()
		return
	}
	a.quorum.lost, a.quorum.prev = true, a.state
	a.mu.Unlock()
	a.fail(fmt.Sprintf("the cluster store has had no quorum for %v; the node returns to %s by itself when enough members are back (GET /health/diagnose; POST /cluster/force-new to recover from a permanent loss)", quorumGrace, a.quorum.prev), err)
}

// storeAnswers undoes what a lost quorum did and does the work that waits
// for a healthy store.
func (a *Appliance) storeAnswers(ctx context.Context) {
	if a.opMu.TryLock() {
		a.recoverQuorum(ctx)
		a.opMu.Unlock()
	}
	a.writePendingLocal(ctx)
	a.promoteLearners(ctx)
}

// recoverQuorum restores the state the node had before the quorum was lost,
// or finishes a boot that waited for the store. a.opMu must be held.
func (a *Appliance) recoverQuorum(ctx context.Context) {
	a.mu.Lock()
	q := a.quorum
	a.quorum = quorumState{}
	a.mu.Unlock()
	switch {
	case q.pendingBoot:
		a.log.Info("the cluster store answers; finishing boot")
		if err := a.finishBoot(ctx); err != nil {
			a.mu.Lock()
			a.quorum = q
			a.mu.Unlock()
			a.log.Warn("boot still waits for the store", "err", err)
		}
	case q.lost:
		a.log.Info("the cluster store has quorum again", "state", q.prev)
		if q.prev == api.Operational && a.currentSession() == nil {
			q.prev = api.Locked
		}
		a.setState(q.prev, "")
	}
}

// waitForStore puts a booting node in Failed until its store answers, then
// the quorum watch finishes the boot.
//
// Meanwhile the API presents the node's peer certificate (from the sealed
// peer identity), not a throw-away one: recovery in this state is
// authenticated with the unlock passphrase, which must only go to this node.
func (a *Appliance) waitForStore(err error) error {
	a.mu.Lock()
	a.quorum = quorumState{pendingBoot: true}
	a.mu.Unlock()
	a.fail("waiting for the cluster store: this member has no quorum yet; the node finishes starting by itself when enough members are reachable", err)
	peer := a.member.Config().PeerTLS
	id := new(tlsconf.Identity)
	if uerr := id.UnmarshalBinary(append(slices.Clone(peer.Key), peer.Cert...)); uerr != nil {
		a.log.Warn("the peer certificate cannot serve the API; using a temporary one", "err", uerr)
		return a.ephemeralTLS()
	}
	a.setTLS(id)
	return nil
}

// quorumLost reports whether the node is Failed because its store lost
// quorum (or never had it since boot): the only Failed that force-new heals.
func (a *Appliance) quorumLost() bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.quorum.lost || a.quorum.pendingBoot
}

func (a *Appliance) writePendingLocal(ctx context.Context) {
	a.mu.RLock()
	entries := a.pendingLocal
	a.mu.RUnlock()
	if entries == nil {
		return
	}
	if err := a.writeLocal(ctx, entries); err != nil {
		return
	}
	a.setPendingLocal(nil)
	a.log.Info("node-local configuration written to the cluster store")
}

// promoteLearners lets the leader promote learners that have caught up, so
// a joining node becomes a voter without an operator's call.
func (a *Appliance) promoteLearners(ctx context.Context) {
	if a.member.Config().PeerTLS == nil {
		return
	}
	if leader, err := a.member.IsLeader(ctx); err != nil || !leader {
		return
	}
	ids, err := a.member.PromoteReadyLearners(ctx)
	if err != nil {
		a.log.Debug("promoting learners", "err", err)
	}
	for _, id := range ids {
		a.log.Info("cluster member promoted to voter", "member", cluster.FormatMemberID(id))
	}
}
