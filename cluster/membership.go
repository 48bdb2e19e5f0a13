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

// retryInterval is the pause between attempts of a membership change that
// etcd refused for a reason that passes by itself.
const retryInterval = 200 * time.Millisecond

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
// them. A learner cannot answer; the error then wraps ErrUnavailable.
func (m *Member) Members(ctx context.Context) ([]MemberInfo, error) {
	c, err := m.etcdClient()
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	cctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(ctx), callTimeout)
	defer cancel()
	resp, err := c.MemberList(cctx)
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
	if m.cfg.PeerListen == "" {
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
	err = m.retry(ctx, []error{rpctypes.ErrUnhealthy}, func(c *clientv3.Client, cctx context.Context) (err error) {
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
	err = m.retry(ctx, waitFor, func(c *clientv3.Client, cctx context.Context) error {
		_, err := c.MemberPromote(cctx, id)
		return err
	})
	if err != nil {
		return membershipError(ctx, what, err)
	}
	return nil
}

// Remove removes member id from the cluster for good; it can only come back
// through a fresh join. Removing this member itself stops it: its store then
// fails with ErrUnavailable and its data dir cannot be started again. Right
// after a membership change etcd refuses to remove a voter until the cluster
// has been healthy for five seconds, so Remove waits for that, until ctx
// ends. Errors wrap ErrMemberNotFound or ErrUnavailable (removing the member
// would cost the quorum).
func (m *Member) Remove(ctx context.Context, id uint64) error {
	err := m.retry(ctx, []error{rpctypes.ErrUnhealthy}, func(c *clientv3.Client, cctx context.Context) error {
		_, err := c.MemberRemove(cctx, id)
		return err
	})
	if err != nil {
		return membershipError(ctx, "remove member "+FormatMemberID(id), err)
	}
	return nil
}

// UpdatePeerURLs changes where the other members reach member id. Update it
// before the member moves, while the cluster still has quorum. Errors wrap
// ErrMemberNotFound, ErrInvalidPeerURL, ErrPeerURLInUse or ErrUnavailable.
func (m *Member) UpdatePeerURLs(ctx context.Context, id uint64, urls []string) error {
	what := "update peer URLs of member " + FormatMemberID(id)
	if err := m.checkPeerURLs(urls); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	err := m.retry(ctx, nil, func(c *clientv3.Client, cctx context.Context) error {
		_, err := c.MemberUpdate(cctx, id, urls)
		return err
	})
	if err != nil {
		return membershipError(ctx, what, err)
	}
	return nil
}

// adoptPeerURL moves a lone member's recorded peer URL onto the one it now
// advertises. etcd records a member's peer URL when the member is added and
// never reads the configuration for it again, so without this a lone
// appliance restarted with PeerListen would still send joiners to a port
// nobody listens on. A member with peers is only warned about: its peers
// could not reach it to agree to the change, which is why UpdatePeerURLs must
// move it beforehand.
func (m *Member) adoptPeerURL(ctx context.Context) error {
	members, err := m.Members(ctx)
	if err != nil {
		return fmt.Errorf("check recorded peer URL: %w", err)
	}
	want := []string{m.cfg.peerURL()}
	i := slices.IndexFunc(members, func(mi MemberInfo) bool { return mi.ID == m.ID() })
	switch {
	case i < 0 || slices.Equal(members[i].PeerURLs, want):
		return nil
	case len(members) > 1:
		m.logs.log.Warn("peer URL differs from the cluster's record; peers cannot reach this member",
			"recorded", members[i].PeerURLs, "configured", want)
		return nil
	}
	m.logs.log.Info("moving peer URL", "from", members[i].PeerURLs, "to", want)
	return m.UpdatePeerURLs(ctx, m.ID(), want)
}

// retry runs op with the member's client and a per-attempt timeout until it
// succeeds, fails with an error other than those in waitFor, or ctx ends;
// it returns op's last error. waitFor may only hold refusals, which change
// nothing: a timed-out change might have happened, so it is never retried.
func (m *Member) retry(ctx context.Context, waitFor []error, op func(*clientv3.Client, context.Context) error) error {
	c, err := m.etcdClient()
	if err != nil {
		return err
	}
	for {
		cctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(ctx), callTimeout)
		err := op(c, cctx)
		cancel()
		if err == nil || !slices.ContainsFunc(waitFor, func(e error) bool { return errors.Is(err, e) }) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(retryInterval):
		}
	}
}

// etcdClient returns the running member's client.
func (m *Member) etcdClient() (*clientv3.Client, error) {
	if c := m.kv.client.Load(); c != nil {
		return c, nil
	}
	return nil, fmt.Errorf("%w: member is not running", ErrUnavailable)
}

// checkPeerURLs checks urls for a member of this member's cluster.
func (m *Member) checkPeerURLs(urls []string) error {
	if len(urls) == 0 {
		return fmt.Errorf("%w: no peer URL given", ErrInvalidPeerURL)
	}
	for _, u := range urls {
		if err := checkPeerURL(u, m.cfg.peerScheme()); err != nil {
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
