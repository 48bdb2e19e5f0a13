package cluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// MaxVoters is the most voting members a cluster may have. Every write waits
// for a majority of voters, so more voters slow every write; seven already
// survive three failures.
const MaxVoters = 7

const (
	// retryInterval is the pause between attempts of a membership change
	// that etcd refused for a reason that passes by itself.
	retryInterval = 200 * time.Millisecond

	// changeTimeout bounds one attempt of a membership change, which waits
	// for a quorum to commit it like a write does.
	changeTimeout = 5 * time.Second
)

// MemberInfo describes one member of the cluster.
type MemberInfo struct {
	// ID is etcd's member ID; the API shows it in hex (FormatMemberID).
	ID uint64
	// Name is empty until the member has started for the first time.
	Name      string
	PeerURLs  []string
	IsLearner bool
}

// FormatMemberID returns id the way etcd and the API show it: lowercase hex.
func FormatMemberID(id uint64) string { return strconv.FormatUint(id, 16) }

// ParseMemberID parses an ID shown by FormatMemberID. A string that is no ID
// names no member, so the error wraps ErrMemberNotFound.
func ParseMemberID(s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 16, 64)
	if err != nil || id == 0 || len(s) > 16 {
		return 0, fmt.Errorf("parse member ID %q: %w: want 1-16 hex digits", s, ErrMemberNotFound)
	}
	return id, nil
}

// Members lists the cluster's members, sorted by ID, as the leader knows
// them. Like a read from the store it rides out a change of leader. A
// learner cannot answer; the error then wraps ErrUnavailable.
func (m *Member) Members(ctx context.Context) ([]MemberInfo, error) {
	var resp *clientv3.MemberListResponse
	err := m.kv.do(ctx, readRetry, func(actx context.Context, c *clientv3.Client) (err error) {
		resp, err = c.MemberList(actx)
		return err
	})
	if err != nil {
		return nil, storeError(ctx, "list members", err)
	}
	return memberInfos(resp.Members), nil
}

// AddLearner registers a new member at peerURLs as a learner: it receives
// the cluster's data but does not vote until Promote. It returns the new
// member and the cluster's members including it, which the new member needs
// to join (see InitialClusterFor). While this member has not yet been
// connected to its peers long enough for etcd to call the cluster healthy
// (five seconds), AddLearner waits, until ctx ends.
//
// Errors wrap ErrLearnerPending when a learner is already registered,
// ErrTooManyVoters when the cluster has MaxVoters voters, ErrInvalidPeerURL,
// ErrPeerURLInUse, ErrNoPeerListener when this member opens no peer port, or
// ErrUnavailable.
func (m *Member) AddLearner(ctx context.Context, peerURLs []string) (MemberInfo, []MemberInfo, error) {
	const what = "add learner"
	if m.config().PeerListen == "" {
		return MemberInfo{}, nil, fmt.Errorf("%s: %w: restart it with a peer listen address first", what, ErrNoPeerListener)
	}
	if err := m.checkPeerURLs(peerURLs); err != nil {
		return MemberInfo{}, nil, fmt.Errorf("%s: %w", what, err)
	}
	members, err := m.Members(ctx)
	if err != nil {
		return MemberInfo{}, nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := canAddLearner(members); err != nil {
		return MemberInfo{}, nil, fmt.Errorf("%s: %w", what, err)
	}
	var resp *clientv3.MemberAddResponse
	// Right after a member was removed, etcd refuses adds with "member not
	// found" for a second or two while the removal settles; like an
	// unhealthy cluster, that refusal changes nothing and passes by itself.
	waitFor := []error{rpctypes.ErrUnhealthy, rpctypes.ErrMemberNotFound}
	err = m.retry(ctx, waitFor, func(cctx context.Context, c *clientv3.Client) (err error) {
		resp, err = c.MemberAddAsLearner(cctx, peerURLs)
		return err
	})
	if err != nil {
		return MemberInfo{}, nil, membershipError(ctx, what, err)
	}
	return memberInfo(resp.Member), memberInfos(resp.Members), nil
}

// Promote makes the learner id a voting member. etcd promotes a learner
// only once it has nearly caught up with the leader, so Promote retries
// until then or until ctx ends. Errors wrap ErrMemberNotFound, ErrNotLearner,
// ErrTooManyVoters, ErrLearnerNotReady (ctx ended first) or ErrUnavailable.
func (m *Member) Promote(ctx context.Context, id uint64) error {
	what := "promote member " + FormatMemberID(id)
	members, err := m.Members(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := canPromote(members, id); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	waitFor := []error{rpctypes.ErrMemberLearnerNotReady, rpctypes.ErrMemberNotEnoughStarted}
	err = m.retry(ctx, waitFor, func(cctx context.Context, c *clientv3.Client) error {
		_, err := c.MemberPromote(cctx, id)
		return err
	})
	if err != nil {
		return membershipError(ctx, what, err)
	}
	return nil
}

// notYet are the refusals of a promotion that PromoteReadyLearners passes
// over: the learner has not caught up, the cluster is not healthy enough to
// grow, or another member promoted or removed the learner meanwhile. A later
// pass sees how things stand then.
var notYet = []error{
	rpctypes.ErrMemberLearnerNotReady, rpctypes.ErrMemberNotEnoughStarted,
	rpctypes.ErrMemberNotLearner, rpctypes.ErrMemberNotFound,
}

// PromoteReadyLearners tries once to promote each learner of the cluster and
// returns the IDs of those it promoted. It does not wait: a learner etcd
// will not promote yet (see notYet) is skipped without an error, for a
// later pass. It is meant to be called now and then by whoever reconciles
// the cluster. Errors wrap ErrTooManyVoters or ErrUnavailable; the IDs
// promoted before the error are returned with it.
func (m *Member) PromoteReadyLearners(ctx context.Context) ([]uint64, error) {
	const what = "promote ready learners"
	members, err := m.Members(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	var promoted []uint64
	for i, mi := range members {
		if !mi.IsLearner {
			continue
		}
		if err := canPromote(members, mi.ID); err != nil {
			return promoted, fmt.Errorf("%s: member %s: %w", what, FormatMemberID(mi.ID), err)
		}
		err := m.retry(ctx, nil, func(cctx context.Context, c *clientv3.Client) error {
			_, err := c.MemberPromote(cctx, mi.ID)
			return err
		})
		switch {
		case err == nil:
			promoted = append(promoted, mi.ID)
			members[i].IsLearner = false
		case !slices.ContainsFunc(notYet, func(e error) bool { return errors.Is(err, e) }):
			return promoted, membershipError(ctx, what+": member "+FormatMemberID(mi.ID), err)
		}
	}
	return promoted, nil
}

// Remove removes member id from the cluster for good; it can only come back
// through a fresh join. Removing this member itself stops it: its store then
// fails with ErrUnavailable and its data dir cannot be started again. Right
// after a membership change etcd refuses to remove a voter until the cluster
// has been healthy for five seconds, so Remove waits for that, until ctx
// ends. Errors wrap ErrMemberNotFound or ErrUnavailable (removing the member
// would cost the quorum).
func (m *Member) Remove(ctx context.Context, id uint64) error {
	self := m.watch.Load() // the server a removal of this member stops
	err := m.retry(ctx, []error{rpctypes.ErrUnhealthy}, func(cctx context.Context, c *clientv3.Client) error {
		_, err := c.MemberRemove(cctx, id)
		return err
	})
	if err != nil && id == m.ID() && self != nil && errors.Is(err, rpctypes.ErrStopped) &&
		self.awaitStoppedItself(ctx, removedStopWait) {
		// etcd stops a removed member as soon as a peer refuses it as
		// removed, which can come before the member has answered its own
		// removal. A server that stops by itself while removing itself
		// has been removed.
		err = nil
	}
	if err != nil {
		return membershipError(ctx, "remove member "+FormatMemberID(id), err)
	}
	return nil
}

// removedStopWait bounds how long Remove waits for a member that removed
// itself to finish stopping: etcd stops at once after refusing the request.
const removedStopWait = 5 * time.Second

// UpdatePeerURLs changes where the other members reach member id. Update it
// before the member moves, while the cluster still has quorum. Errors wrap
// ErrMemberNotFound, ErrInvalidPeerURL, ErrPeerURLInUse or ErrUnavailable.
func (m *Member) UpdatePeerURLs(ctx context.Context, id uint64, urls []string) error {
	what := "update peer URLs of member " + FormatMemberID(id)
	if err := m.checkPeerURLs(urls); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	err := m.retry(ctx, nil, func(cctx context.Context, c *clientv3.Client) error {
		_, err := c.MemberUpdate(cctx, id, urls)
		return err
	})
	if err != nil {
		return membershipError(ctx, what, err)
	}
	return nil
}

// adoptPeerURL moves this member's recorded peer URL onto the one it now
// advertises. etcd records a member's peer URL when the member is added and
// never reads the configuration for it again, so without this a lone
// appliance restarted with PeerListen would still send joiners to a port
// nobody listens on. A member with peers normally has its URL moved with
// UpdatePeerURLs before it moves (its peers dial the recorded URL); one
// that moved without (a crash between the two) is moved here as soon as it
// serves, which needs a quorum: until then it is only warned about. It
// reads etcd's own record, which for a member that serves is up to date
// (etcd serves once it has applied its log) and otherwise good enough for a
// warning. It must not ask the cluster (Members): etcd refuses membership
// RPCs on a learner, so a learner stopped before its promotion could then
// never start again. m.mu must be held.
func (m *Member) adoptPeerURL(ctx context.Context, ready bool) error {
	record := m.etcd.Server.Cluster()
	self := record.Member(m.etcd.Server.MemberID())
	want := []string{m.cfg.peerURL()}
	switch {
	case self == nil || slices.Equal(self.PeerURLs, want):
		return nil
	case !ready || self.IsLearner:
		m.logs.log.Warn("peer URL differs from the cluster's record; peers cannot reach this member",
			"recorded", self.PeerURLs, "configured", want)
		return nil
	}
	m.logs.log.Info("moving peer URL", "from", self.PeerURLs, "to", want)
	err := m.UpdatePeerURLs(ctx, m.ID(), want)
	if err != nil && len(record.Members()) > 1 {
		// The member serves its cluster anyway (it dials its peers); only
		// a lone member is useless without its URL.
		m.logs.log.Warn("peer URL differs from the cluster's record and could not be moved", "recorded", self.PeerURLs, "configured", want, "err", err)
		return nil
	}
	return err
}

// retry runs op until it succeeds, fails with an error other than those in
// waitFor, or ctx ends; it returns op's last error. waitFor may only hold
// refusals, which change nothing: a timed-out change might have happened,
// so it is never retried.
func (m *Member) retry(ctx context.Context, waitFor []error, op func(context.Context, *clientv3.Client) error) error {
	p := retryPolicy{
		attempt: changeTimeout,
		pause:   retryInterval,
		again: func(err error) bool {
			return slices.ContainsFunc(waitFor, func(e error) bool { return errors.Is(err, e) })
		},
	}
	return p.run(ctx, m.etcdClient, op)
}

// etcdClient returns the client of the serving member.
func (m *Member) etcdClient() (*clientv3.Client, error) { return m.kv.current() }

// checkPeerURLs checks urls for a member of this member's cluster.
func (m *Member) checkPeerURLs(urls []string) error {
	if len(urls) == 0 {
		return fmt.Errorf("%w: no peer URL given", ErrInvalidPeerURL)
	}
	for _, u := range urls {
		if err := checkPeerURL(u, m.config().peerScheme()); err != nil {
			return err
		}
	}
	return nil
}

// canAddLearner refuses a second learner, and a learner that could never be
// promoted.
func canAddLearner(members []MemberInfo) error {
	if i := slices.IndexFunc(members, func(mi MemberInfo) bool { return mi.IsLearner }); i >= 0 {
		return fmt.Errorf("%w: member %s has not been promoted yet", ErrLearnerPending, FormatMemberID(members[i].ID))
	}
	if n := voters(members); n >= MaxVoters {
		return fmt.Errorf("%w: the cluster has %d, the most it may have", ErrTooManyVoters, n)
	}
	return nil
}

// canPromote checks that id is a learner and that the cluster has room for
// another voter.
func canPromote(members []MemberInfo, id uint64) error {
	i := slices.IndexFunc(members, func(mi MemberInfo) bool { return mi.ID == id })
	switch {
	case i < 0:
		return ErrMemberNotFound
	case !members[i].IsLearner:
		return ErrNotLearner
	}
	if n := voters(members); n >= MaxVoters {
		return fmt.Errorf("%w: the cluster has %d, the most it may have", ErrTooManyVoters, n)
	}
	return nil
}

func voters(members []MemberInfo) int {
	n := 0
	for _, mi := range members {
		if !mi.IsLearner {
			n++
		}
	}
	return n
}

func memberInfo(pm *etcdserverpb.Member) MemberInfo {
	return MemberInfo{ID: pm.ID, Name: pm.Name, PeerURLs: slices.Clone(pm.PeerURLs), IsLearner: pm.IsLearner}
}

func memberInfos(pms []*etcdserverpb.Member) []MemberInfo {
	out := make([]MemberInfo, len(pms))
	for i, pm := range pms {
		out[i] = memberInfo(pm)
	}
	slices.SortFunc(out, func(a, b MemberInfo) int { return cmp.Compare(a.ID, b.ID) })
	return out
}
