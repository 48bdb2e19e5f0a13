package cluster

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// MemberStatus is what one member knows about itself and its leader. A
// member can only report its own raft progress (no member can reach another's
// client socket), so the appliance gathers every node's status from the
// nodes themselves and compares them (see LagBehind).
type MemberStatus struct {
	ID     uint64 // this member
	Leader uint64 // the leader this member follows; 0 when it knows none
	// RaftTerm is the current election term.
	RaftTerm uint64
	// RaftIndex is the highest raft log index this member knows to be
	// committed.
	RaftIndex uint64
	// RaftAppliedIndex is the highest index this member has applied to its
	// store; reads on this member see everything up to it.
	RaftAppliedIndex uint64
	IsLearner        bool
	// Errors lists alarms the member raised, such as a full store.
	Errors []string
}

// LagBehind returns how many raft entries s has yet to apply to reach what
// leader had committed: the "raft index lag" of s. Both should be taken at
// about the same time; a lag that stays above a few hundred means the member
// is not keeping up.
func (s MemberStatus) LagBehind(leader MemberStatus) uint64 {
	if leader.RaftIndex <= s.RaftAppliedIndex {
		return 0
	}
	return leader.RaftIndex - s.RaftAppliedIndex
}

// Status reports this member's raft state. It answers without a leader (and
// on a learner), so it also serves to diagnose a cluster that lost quorum.
// Errors wrap ErrUnavailable when the member is not running.
func (m *Member) Status(ctx context.Context) (MemberStatus, error) {
	c, err := m.etcdClient()
	if err != nil {
		return MemberStatus{}, fmt.Errorf("member status: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	resp, err := c.Status(cctx, c.Endpoints()[0])
	if err != nil {
		return MemberStatus{}, storeError(ctx, "member status", err)
	}
	return MemberStatus{
		ID:               resp.Header.MemberId,
		Leader:           resp.Leader,
		RaftTerm:         resp.RaftTerm,
		RaftIndex:        resp.RaftIndex,
		RaftAppliedIndex: resp.RaftAppliedIndex,
		IsLearner:        resp.IsLearner,
		Errors:           slices.Clone(resp.Errors),
	}, nil
}

// IsLeader reports whether this member leads its cluster right now, as its
// Status says. Errors wrap ErrUnavailable when the member is not running.
func (m *Member) IsLeader(ctx context.Context) (bool, error) {
	st, err := m.Status(ctx)
	if err != nil {
		return false, fmt.Errorf("check leadership: %w", err)
	}
	return st.Leader != 0 && st.Leader == st.ID, nil
}

// statusTimeout bounds a Status request, which the member answers itself.
const statusTimeout = 5 * time.Second

// promotionPoll is how often AwaitPromotion looks at the member's status: a
// promotion reaches a caught-up learner within a heartbeat or two.
const promotionPoll = 50 * time.Millisecond

// AwaitPromotion returns once this member votes, which for a joining member
// is when it has applied its promotion and its store serves. Promote returns
// when the cluster has decided; the member itself learns of it a moment
// later. The error wraps the context's error when ctx ends first.
//
// It polls quickly at first and then backs off to once a second, so a
// learner that waits long (a witness whose cluster is full) costs little.
func (m *Member) AwaitPromotion(ctx context.Context) error {
	wait := promotionPoll
	for {
		st, err := m.Status(ctx)
		if err == nil && !st.IsLearner {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for promotion of member %s: %w", FormatMemberID(m.ID()), ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}
