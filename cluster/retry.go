package cluster

import (
	"context"
	"errors"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/raft/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Store calls retry across leader changes. Electing a new leader takes a
// second or two, during which members refuse requests or let them time out;
// the appliance should not see that as an outage. So a KV call is tried again
// until it succeeds or callTimeout has passed, each attempt bounded by
// attemptTimeout, and what may be tried again follows one rule:
//
//   - A read (Get, List) changes nothing, so it is retried after any failure
//     that means the store cannot serve right now (see unavailable), except
//     on a learner, which cannot serve until it is promoted (see lasting).
//   - A write (Txn) is retried only after a failure that proves etcd did not
//     apply it and never will (see notApplied): the member refused the
//     request before proposing it to raft (it knows no leader, has too many
//     requests pending, is not yet capable of the request, or is a learner),
//     or raft refused the proposal on this member (no leader, leadership
//     being transferred). Any other failure is ambiguous: after a timeout,
//     "leader changed", "timed out due to leader failure", a stopping server
//     or a closing client, the write may already be committed by a quorum,
//     and sending it again could apply it twice. Txn then fails with an
//     error wrapping ErrUnavailable, and the caller must treat the outcome as
//     unknown: read the keys back before deciding what happened.
//
// A Txn that returns without an error was committed by a quorum: etcd answers
// a write only after applying it, which it does only once it is committed.
const (
	// attemptTimeout bounds one try of a store call. A healthy member
	// answers in milliseconds; an attempt that takes this long waits for a
	// leader that is gone.
	attemptTimeout = 2 * time.Second

	// callTimeout bounds a whole KV call with all its attempts: long enough
	// to ride out an election, short enough that a cluster without quorum
	// is reported as unavailable rather than making the caller hang.
	callTimeout = 8 * time.Second

	// retryPause separates attempts: a refusal that proves nothing was
	// applied comes back at once, and an election needs a few hundred
	// milliseconds at least.
	retryPause = 100 * time.Millisecond
)

// retryPolicy says how one kind of etcd call is tried again.
type retryPolicy struct {
	attempt time.Duration    // bounds one attempt
	pause   time.Duration    // between attempts
	again   func(error) bool // whether a failed attempt may be repeated
}

var (
	// readRetry repeats reads after any failure to serve that may pass.
	readRetry = retryPolicy{attempt: attemptTimeout, pause: retryPause,
		again: func(err error) bool { return unavailable(err) && !lasting(err) }}
	// writeRetry repeats writes only when they were certainly not applied.
	writeRetry = retryPolicy{attempt: attemptTimeout, pause: retryPause,
		again: func(err error) bool { return notApplied(err) && !lasting(err) }}
)

// lasting reports whether err is a refusal that retrying within one call
// would not ride out: a learner serves nothing until it is promoted, which
// is up to whoever manages the cluster, so its store fails at once.
func lasting(err error) bool { return errors.Is(err, errNotSupportedForLearner) }

// run calls op with a client and a context bounded by p.attempt until op
// succeeds, fails in a way p.again does not repeat, or ctx ends; it returns
// op's last error. Every attempt asks client afresh, so that one after a
// restart of the member uses the new client, and one while the member is not
// serving ends the call with client's error. Each attempt requires a leader,
// so that a member cut off from its cluster refuses at once instead of
// waiting for the timeout.
func (p retryPolicy) run(ctx context.Context, client func() (*clientv3.Client, error), op func(context.Context, *clientv3.Client) error) error {
	for {
		c, err := client()
		if err != nil {
			return err
		}
		actx, cancel := context.WithTimeout(clientv3.WithRequireLeader(ctx), p.attempt)
		err = op(actx, c)
		cancel()
		if err == nil || !p.again(err) {
			return err
		}
		pause := time.NewTimer(p.pause)
		select {
		case <-ctx.Done():
			pause.Stop()
			return err
		case <-pause.C:
		}
	}
}

// notApplied reports whether err proves that a write was not applied and
// will not be: see the rule above. Every such error also means the store is
// unavailable.
func notApplied(err error) bool {
	switch {
	case errors.Is(err, rpctypes.ErrNoLeader), // refused before the request runs
		errors.Is(err, rpctypes.ErrTooManyRequests), // refused before proposing
		errors.Is(err, rpctypes.ErrNotCapable),      // refused before the request runs
		errors.Is(err, errNotSupportedForLearner),   // refused before the request runs
		proposalDropped(err):
		return true
	}
	return false
}

// proposalDropped reports whether raft on this member refused to take the
// proposal: it knew no leader to forward it to, or was handing leadership
// over. The client sees that as an unknown gRPC error with raft's message.
func proposalDropped(err error) bool {
	var etcdErr rpctypes.EtcdError
	if errors.As(err, &etcdErr) {
		return false
	}
	s, ok := status.FromError(err)
	return ok && s.Code() == codes.Unknown && s.Message() == raft.ErrProposalDropped.Error()
}
