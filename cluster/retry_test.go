package cluster

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// TestRetryRule checks which failures reads and writes repeat, with the
// values etcd's client returns: writes only those that prove the write was
// not applied. A learner's refusal is such a failure but lasts, so it is
// not retried either.
func TestRetryRule(t *testing.T) {
	if !notApplied(errNotSupportedForLearner) || !unavailable(errNotSupportedForLearner) {
		t.Error("a learner's refusal: got it maybe applied or available, want neither")
	}
	tests := []struct {
		name                string
		err                 error
		wantRead, wantWrite bool
	}{
		{"no leader", rpctypes.ErrNoLeader, true, true},
		{"too many requests", rpctypes.ErrTooManyRequests, true, true},
		{"not capable", rpctypes.ErrNotCapable, true, true},
		{"learner, which fails at once", errNotSupportedForLearner, false, false},
		{"raft dropped the proposal", status.Error(codes.Unknown, "raft proposal dropped"), true, true},
		{"server timeout", rpctypes.ErrTimeout, true, false},
		{"leader changed", rpctypes.ErrLeaderChanged, true, false},
		{"timed out due to leader failure", rpctypes.ErrTimeoutDueToLeaderFail, true, false},
		{"timed out due to lost connection", rpctypes.ErrTimeoutDueToConnectionLost, true, false},
		{"attempt deadline", context.DeadlineExceeded, true, false},
		{"server stopped", rpctypes.ErrStopped, true, false},
		{"client closing", status.Error(codes.Canceled, "grpc: the client connection is closing"), true, false},
		{"grpc unavailable", status.Error(codes.Unavailable, "connection reset"), true, false},
		{"other unknown error", status.Error(codes.Unknown, "raft proposal dropped, or not"), false, false},
		{"no space", rpctypes.ErrNoSpace, false, false},
		{"duplicate key in txn", rpctypes.ErrDuplicateKey, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := readRetry.again(tt.err); got != tt.wantRead {
				t.Errorf("read retried: got %v, want %v", got, tt.wantRead)
			}
			if got := writeRetry.again(tt.err); got != tt.wantWrite {
				t.Errorf("write retried: got %v, want %v", got, tt.wantWrite)
			}
			if tt.wantWrite && (!unavailable(tt.err) || !notApplied(tt.err)) {
				t.Errorf("a write that is retried must be unavailable when retries run out; %v is not", tt.err)
			}
		})
	}
}

// TestRetryPolicyRun checks the retry loop itself with scripted failures:
// how often it tries, what each attempt gets, and when it gives up.
func TestRetryPolicyRun(t *testing.T) {
	noClient := func() (*clientv3.Client, error) { return nil, nil }
	tests := []struct {
		name         string
		policy       retryPolicy
		client       func() (*clientv3.Client, error)
		fails        []error // the first attempts fail with these, later ones succeed
		bound        time.Duration
		wantAttempts int // -1: more than one, until the bound
		wantErr      error
	}{
		{"write retried while no leader", writeRetry, noClient,
			[]error{rpctypes.ErrNoLeader, rpctypes.ErrNoLeader}, time.Minute, 3, nil},
		{"write not retried after a timeout", writeRetry, noClient,
			[]error{rpctypes.ErrTimeout, rpctypes.ErrTimeout}, time.Minute, 1, rpctypes.ErrTimeout},
		{"read retried after a timeout", readRetry, noClient,
			[]error{rpctypes.ErrTimeout, rpctypes.ErrLeaderChanged}, time.Minute, 3, nil},
		{"read gives up at the bound", readRetry, noClient,
			repeat(rpctypes.ErrNoLeader, 100), 450 * time.Millisecond, -1, rpctypes.ErrNoLeader},
		{"member not running", readRetry,
			func() (*clientv3.Client, error) { return nil, ErrUnavailable },
			nil, time.Minute, 0, ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tt.bound)
			defer cancel()
			attempts := 0
			begin := time.Now()
			err := tt.policy.run(ctx, tt.client, func(actx context.Context, _ *clientv3.Client) error {
				attempts++
				checkAttemptContext(t, actx, tt.policy.attempt)
				if attempts <= len(tt.fails) {
					return tt.fails[attempts-1]
				}
				return nil
			})
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("got error %v, want %v", err, tt.wantErr)
			}
			switch {
			case tt.wantAttempts >= 0 && attempts != tt.wantAttempts:
				t.Errorf("got %d attempts, want %d", attempts, tt.wantAttempts)
			case tt.wantAttempts < 0 && attempts < 2:
				t.Errorf("got %d attempts, want several", attempts)
			}
			if took := time.Since(begin); took > tt.bound+time.Second {
				t.Errorf("took %v, want at most about the bound %v", took, tt.bound)
			}
		})
	}
}

// checkAttemptContext fails t unless actx has its own deadline, no later
// than attempt from now, and asks the server to require a leader.
func checkAttemptContext(t *testing.T, actx context.Context, attempt time.Duration) {
	t.Helper()
	if d, ok := actx.Deadline(); !ok || time.Until(d) > attempt {
		t.Errorf("attempt deadline: got %v (set %v), want within %v", time.Until(d), ok, attempt)
	}
	md, _ := metadata.FromOutgoingContext(actx)
	if got := md.Get(rpctypes.MetadataRequireLeaderKey); len(got) != 1 || got[0] != rpctypes.MetadataHasLeader {
		t.Errorf("require-leader metadata: got %q, want %q", got, rpctypes.MetadataHasLeader)
	}
}

func repeat(err error, n int) []error {
	out := make([]error, n)
	for i := range out {
		out[i] = fmt.Errorf("attempt %d: %w", i+1, err)
	}
	return out
}
