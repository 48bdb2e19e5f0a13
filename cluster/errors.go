package cluster

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The package's sentinel errors, in one place so that the appliance can map
// each to one HTTP status. Every error a function returns wraps at most one
// of them; the functions say which.
var (
	// ErrNotFound means the key does not exist.
	ErrNotFound = errors.New("cluster: key not found")
	// ErrConflict means a Txn condition did not hold; nothing was written.
	ErrConflict = errors.New("cluster: conflicting concurrent change")
	// ErrUnavailable means the store or the cluster cannot currently serve
	// (no quorum, stopped, peers not yet healthy long enough, or this member
	// is a learner that does not serve the store yet). Retrying later may
	// succeed.
	ErrUnavailable = errors.New("cluster: store unavailable")

	// ErrMemberNotFound means no member has the given ID.
	ErrMemberNotFound = errors.New("cluster: member not found")
	// ErrLearnerPending means the cluster already has a learner; only one
	// member may join at a time.
	ErrLearnerPending = errors.New("cluster: another member is still joining")
	// ErrTooManyVoters means the cluster already has MaxVoters voting members.
	ErrTooManyVoters = errors.New("cluster: too many voting members")
	// ErrNotLearner means the member to promote already votes.
	ErrNotLearner = errors.New("cluster: member is not a learner")
	// ErrLearnerNotReady means the learner had not caught up with the leader
	// before the caller's context ended.
	ErrLearnerNotReady = errors.New("cluster: learner has not caught up yet")
	// ErrInvalidPeerURL means a peer URL is malformed, uses the wrong scheme
	// for this cluster, or does not name an IP address and port.
	ErrInvalidPeerURL = errors.New("cluster: invalid peer URL")
	// ErrPeerURLInUse means another member already has that peer URL.
	ErrPeerURLInUse = errors.New("cluster: peer URL already in use")
	// ErrNoPeerListener means this member opens no peer port, so no new
	// member could reach it; restart it with Config.PeerListen first.
	ErrNoPeerListener = errors.New("cluster: member has no peer listener")
	// ErrPeerTLS means this member and its peers do not accept each other's
	// certificates: they were not issued by the same cluster CA, or do not
	// name the peer's address.
	ErrPeerTLS = errors.New("cluster: peer TLS handshake refused")
	// ErrHasMemberData means a member was asked to join a cluster with a data
	// dir that already holds a member; joining needs a fresh one.
	ErrHasMemberData = errors.New("cluster: data dir already holds a member")
	// ErrNoMemberData means a member was asked to recover a cluster
	// (Config.ForceNewCluster) from a data dir that holds no member.
	ErrNoMemberData = errors.New("cluster: data dir holds no member")
)

// storeError describes err from an etcd call made for a caller whose context
// is parent. Failures meaning the store cannot serve right now (no leader,
// server stopped, client closed, timed out, overloaded, a learner asked to
// serve) also wrap ErrUnavailable; a caller's own cancellation is reported as
// just that.
func storeError(parent context.Context, what string, err error) error {
	if errors.Is(parent.Err(), context.Canceled) {
		return fmt.Errorf("%s: %w", what, parent.Err())
	}
	if unavailable(err) {
		return fmt.Errorf("%s: %w: %w", what, ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func unavailable(err error) bool {
	switch {
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, context.Canceled), // the client closed under the call
		errors.Is(err, rpctypes.ErrTooManyRequests),
		// A member that has just started does not yet know which
		// requests its cluster supports.
		errors.Is(err, rpctypes.ErrNotCapable),
		// Raft on this member knew no leader to hand the write to.
		proposalDropped(err),
		// A learner serves nothing until it is promoted.
		errors.Is(err, errNotSupportedForLearner),
		// Membership changes that strict reconfiguration checks refuse
		// until every peer has been healthy for a while.
		errors.Is(err, rpctypes.ErrUnhealthy),
		errors.Is(err, rpctypes.ErrMemberNotEnoughStarted):
		return true
	}
	switch grpcCode(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		// etcd reports no leader, stopped, not capable and its own request
		// timeouts as Unavailable.
		return true
	}
	return false
}

// errNotSupportedForLearner is how the client reports a request a learner
// refuses; rpctypes has no client-side value for it.
var errNotSupportedForLearner = rpctypes.Error(rpctypes.ErrGRPCNotSupportedForLearner)

// membershipErrors maps etcd's membership refusals to our sentinels.
var membershipErrors = []struct{ etcd, ours error }{
	{rpctypes.ErrMemberNotFound, ErrMemberNotFound},
	{rpctypes.ErrMemberNotLearner, ErrNotLearner},
	{rpctypes.ErrMemberLearnerNotReady, ErrLearnerNotReady},
	{rpctypes.ErrTooManyLearners, ErrLearnerPending},
	{rpctypes.ErrPeerURLExist, ErrPeerURLInUse},
	{rpctypes.ErrMemberBadURLs, ErrInvalidPeerURL},
}

// membershipError is storeError for membership calls: it also wraps the
// sentinel matching etcd's refusal, also when the refusal was the last
// answer before the caller's deadline.
func membershipError(parent context.Context, what string, err error) error {
	if !errors.Is(parent.Err(), context.Canceled) {
		for _, m := range membershipErrors {
			if errors.Is(err, m.etcd) {
				return fmt.Errorf("%s: %w: %w", what, m.ours, err)
			}
		}
	}
	return storeError(parent, what, err)
}

// grpcCode returns the gRPC code of err, whether the client already turned it
// into an etcd error or left it a gRPC status.
func grpcCode(err error) codes.Code {
	var etcdErr rpctypes.EtcdError
	if errors.As(err, &etcdErr) {
		return etcdErr.Code()
	}
	return status.Code(err)
}
