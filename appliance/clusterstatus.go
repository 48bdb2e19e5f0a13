package appliance

import (
	"slices"

	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/keywarden/keywarden/netcfg/timesync"

	"github.com/keywarden/keywarden/appliance/api"
	"github.com/keywarden/keywarden/cluster"
)

const (
	// statusPrefix holds one heartbeat per appliance member: its raft
	// progress, appliance state and clock. Heartbeats are not secret (no
	// key material, no names of keys or users) and stay in plaintext so an
	// operator can read them with etcd tools during an incident.
	statusPrefix = "/kw/v1/status/"
	// heartbeatEvery is how often a member writes its heartbeat.
	heartbeatEvery = 2 * time.Second
	// heartbeatStale is how old a heartbeat may be before the member counts
	// as not reporting.
	heartbeatStale = 3 * heartbeatEvery
	// peerProbeTimeout bounds the reachability probe of one member.
	peerProbeTimeout = 1500 * time.Millisecond
)

// heartbeat is what a member writes under statusPrefix.
type heartbeat struct {
	Name        string    `json:"name"`
	State       api.State `json:"state"`
	RaftIndex   uint64    `json:"raftIndex"`
	RaftApplied uint64    `json:"raftApplied"`
	Time        time.Time `json:"time"` // the member's clock when it wrote this
	// NTP is the member's own NTP state: whether its last sync succeeded and
	// the correction it made.
	NTPSynced   bool    `json:"ntpSynced"`
	NTPOffsetMs float64 `json:"ntpOffsetMs"`
}

// seenHeartbeat is a heartbeat and when this node received it.
type seenHeartbeat struct {
	heartbeat
	received time.Time
}

// statusBoard collects the members' heartbeats from a store watch. The
// watch delivers a write within milliseconds of its commit, so the
// difference between a heartbeat's clock and the time it arrived estimates
// the member's clock offset from this node's to within that delay.
type statusBoard struct {
	mu   sync.Mutex
	seen map[uint64]seenHeartbeat

	// The last reachability probe, reused for a second: the status answers
	// without credentials outside Operational, so repeated calls must not
	// each open a connection to every member.
	probeMu  sync.Mutex
	probedAt time.Time
	probed   map[uint64]bool
}

// probeReuse is how long one reachability probe of the members is reused.
const probeReuse = time.Second

func (b *statusBoard) record(id uint64, hb heartbeat, at time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.seen == nil {
		b.seen = map[uint64]seenHeartbeat{}
	}
	b.seen[id] = seenHeartbeat{heartbeat: hb, received: at}
}

// reset forgets every heartbeat (a new boot).
func (b *statusBoard) reset() {
	b.mu.Lock()
	b.seen = nil
	b.mu.Unlock()
	b.probeMu.Lock()
	b.probed = nil
	b.probeMu.Unlock()
}

func (b *statusBoard) get(id uint64) (seenHeartbeat, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	hb, ok := b.seen[id]
	return hb, ok
}

// watchHeartbeats feeds the status board until ctx ends.
func (a *Appliance) watchHeartbeats(ctx context.Context) {
	for ctx.Err() == nil {
		for ev := range a.kv.Watch(ctx, statusPrefix) {
			id, err := cluster.ParseMemberID(strings.TrimPrefix(ev.Key, statusPrefix))
			var hb heartbeat
			if err != nil || ev.Deleted || json.Unmarshal(ev.Value, &hb) != nil {
				continue
			}
			a.board.record(id, hb, a.Now())
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// writeHeartbeat records this member's progress and state. Learners cannot
// write; they report through the joiner's own status.
func (a *Appliance) writeHeartbeat(ctx context.Context) {
	st, err := a.member.Status(ctx)
	if err != nil || st.IsLearner {
		return
	}
	state, _ := a.State()
	hb := heartbeat{Name: a.nodeID, State: state, RaftIndex: st.RaftIndex, RaftApplied: st.RaftAppliedIndex, Time: a.Now()}
	if syncer := a.currentSyncer(); syncer != nil {
		ntp := syncer.Status()
		hb.NTPSynced, hb.NTPOffsetMs = ntp.Synced, ms(ntp.Offset)
	}
	b, _ := json.Marshal(hb)
	_, _ = a.kv.Txn(ctx, nil, []cluster.Op{cluster.Put(statusPrefix+cluster.FormatMemberID(st.ID), b)})
}

// ClusterStatus implements api.Backend: every member as this node sees it.
// It works without quorum too, from what the node last heard.
func (a *Appliance) ClusterStatus(ctx context.Context) (api.ClusterStatus, error) {
	out := api.ClusterStatus{Members: []api.ClusterMemberStatus{}}
	m := a.member
	if m == nil {
		return out, nil
	}
	a.mu.RLock()
	stage := a.joinStage
	a.mu.RUnlock()
	if stage != "" {
		// This node is joining: its store is restarting into the cluster.
		// etcd reports nothing while it starts, so "bootstrapping" spans
		// contacting the cluster and receiving its data (the initial sync).
		out.Members = append(out.Members, api.ClusterMemberStatus{
			ClusterMember: api.ClusterMember{Name: a.nodeID, URLs: []string{m.PeerURL()}, Learner: true},
			State:         "joining", Stage: stage,
		})
		return out, nil
	}
	self, err := m.Status(ctx)
	if err != nil {
		return out, err
	}
	out.Self = cluster.FormatMemberID(self.ID)
	if self.Leader != 0 {
		out.Leader = cluster.FormatMemberID(self.Leader)
	}
	members, err := m.Members(ctx)
	if err != nil {
		// No leader: report this member alone, with what it knows.
		members = []cluster.MemberInfo{{ID: self.ID, Name: a.nodeID, IsLearner: self.IsLearner}}
	}
	reachable := a.cachedProbe(ctx, members, self.ID)
	leaderHB, _ := a.board.get(self.Leader)
	now := a.Now()
	offsets := a.board.clockOffsets(self.ID, now)
	for _, mi := range members {
		ms := api.ClusterMemberStatus{ClusterMember: apiMembers([]cluster.MemberInfo{mi}, true)[0]}
		hb, ok := a.board.get(mi.ID)
		if ok {
			ms.ApplianceState = string(hb.State)
			ms.NTPSynced, ms.NTPOffsetMs = &hb.NTPSynced, &hb.NTPOffsetMs
			ms.LastHeartbeatMs = now.Sub(hb.received).Milliseconds()
			if leaderHB.RaftIndex > hb.RaftApplied {
				lag := leaderHB.RaftIndex - hb.RaftApplied
				ms.RaftIndexLag = &lag
			} else {
				zero := uint64(0)
				ms.RaftIndexLag = &zero
			}
		}
		if mi.ID == self.ID {
			lag := self.LagBehind(self) // what this member has yet to apply
			ms.RaftIndexLag = &lag
		}
		if d, ok := offsets[mi.ID]; ok {
			ms.ClockOffsetMs = new(d.Milliseconds())
		}
		ms.State, ms.Stage = memberState(mi, reachable[mi.ID], a.peered.Load(), mi.ID == self.ID)
		if ok && now.Sub(hb.received) > heartbeatStale {
			ms.ApplianceState = "" // too old to say
		}
		out.Members = append(out.Members, ms)
	}
	out.ClockSkewAlarm = skewAlarm(offsets)
	return out, nil
}

// clockOffsets estimates each member's clock minus this node's from the
// fresh heartbeats (this node's own counts as zero). Every heartbeat reaches
// this node after the same write, commit and watch delay; this node's own
// heartbeat measures it (as a negative offset), so subtracting it leaves the
// clocks' difference.
func (b *statusBoard) clockOffsets(self uint64, now time.Time) map[uint64]time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[uint64]time.Duration{self: 0}
	var ownDelay time.Duration
	if own, ok := b.seen[self]; ok {
		ownDelay = own.Time.Sub(own.received)
	}
	for id, hb := range b.seen {
		if id != self && now.Sub(hb.received) <= heartbeatStale {
			out[id] = hb.Time.Sub(hb.received) - ownDelay
		}
	}
	return out
}

// skewAlarm names the members whose clocks are off (never nil).
func skewAlarm(offsets map[uint64]time.Duration) []string {
	byName := make(map[string]time.Duration, len(offsets))
	for id, d := range offsets {
		byName[cluster.FormatMemberID(id)] = d
	}
	if off := timesync.SkewAlarm(byName, timesync.DefaultSkewThreshold); off != nil {
		return off
	}
	return []string{}
}

// watchSkew raises the clock-skew alarm in the log (and clears it) as the
// members' heartbeats show their clocks drift apart, until ctx ends.
func (a *Appliance) watchSkew(ctx context.Context) {
	t := time.NewTicker(2 * heartbeatEvery)
	defer t.Stop()
	var raised []string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !a.peered.Load() || a.joinRunning() {
			raised = nil
			a.skewAlarm.Store(0)
			continue
		}
		alarm := skewAlarm(a.board.clockOffsets(a.member.ID(), a.Now()))
		if !slices.Equal(alarm, raised) {
			if len(alarm) > 0 {
				a.log.Warn("clock skew alarm: these members' clocks differ from the others' by more than the threshold; check their NTP", "members", alarm, "threshold", timesync.DefaultSkewThreshold)
			} else {
				a.log.Info("clock skew alarm cleared")
			}
			raised = alarm
			a.skewAlarm.Store(int64(len(raised)))
		}
	}
}

// memberState names what a member is doing: ready (a voter that answers
// its peers), joining with its stage, down (a voter whose peer port does not
// answer) or unknown (this node cannot probe: it has no peers).
func memberState(mi cluster.MemberInfo, reachable, peered, self bool) (state, stage string) {
	switch {
	case mi.IsLearner && mi.Name == "":
		return "joining", "creating"
	case mi.IsLearner && !reachable && !self:
		return "joining", "bootstrapping"
	case mi.IsLearner:
		return "joining", "catching up"
	case self, reachable:
		return "ready", ""
	case !peered:
		return "unknown", ""
	}
	return "down", ""
}

// cachedProbe is probeMembers, reusing a probe younger than probeReuse.
// Concurrent callers wait for one probe.
func (a *Appliance) cachedProbe(ctx context.Context, members []cluster.MemberInfo, self uint64) map[uint64]bool {
	b := &a.board
	b.probeMu.Lock()
	defer b.probeMu.Unlock()
	if b.probed != nil && time.Since(b.probedAt) < probeReuse {
		return b.probed
	}
	b.probed, b.probedAt = a.probeMembers(ctx, members, self), time.Now()
	return b.probed
}

// probeMembers reports which other members answer this node's peer
// requests (with its peer certificate), all at once; cluster.PeerClockOffsets
// makes the requests and measures clocks on the way, which is not used here.
func (a *Appliance) probeMembers(ctx context.Context, members []cluster.MemberInfo, self uint64) map[uint64]bool {
	out := map[uint64]bool{}
	peer := a.member.Config().PeerTLS
	if peer == nil {
		return out
	}
	byURL := map[string]uint64{}
	var urls []string
	for _, mi := range members {
		if mi.ID != self && len(mi.PeerURLs) > 0 {
			byURL[mi.PeerURLs[0]] = mi.ID
			urls = append(urls, mi.PeerURLs[0])
		}
	}
	pctx, cancel := context.WithTimeout(ctx, peerProbeTimeout)
	defer cancel()
	answered, _ := cluster.PeerClockOffsets(pctx, *peer, urls)
	for u := range answered {
		out[byURL[u]] = true
	}
	return out
}
