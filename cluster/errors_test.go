package cluster

import (
	"context"
	"errors"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The errors here are the values etcd's client returns; these cases are hard
// to provoke on a healthy single member, so they are mapped one by one.
func TestStoreError(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name            string
		parent          context.Context
		err             error
		wantUnavailable bool
		wantIs          error
	}{
		{"no leader", context.Background(), rpctypes.ErrNoLeader, true, rpctypes.ErrNoLeader},
		{"server stopped", context.Background(), rpctypes.ErrStopped, true, rpctypes.ErrStopped},
		{"server timeout", context.Background(), rpctypes.ErrTimeout, true, rpctypes.ErrTimeout},
		{"leader lost during request", context.Background(), rpctypes.ErrTimeoutDueToLeaderFail, true, nil},
		{"too many requests", context.Background(), rpctypes.ErrTooManyRequests, true, nil},
		{"per-call deadline", context.Background(), context.DeadlineExceeded, true, context.DeadlineExceeded},
		{"grpc unavailable", context.Background(), status.Error(codes.Unavailable, "connection refused"), true, nil},
		{"client closing", context.Background(), status.Error(codes.Canceled, "grpc: the client connection is closing"), true, nil},
		{"caller cancelled", cancelled, context.Canceled, false, context.Canceled},
		{"no space", context.Background(), rpctypes.ErrNoSpace, false, rpctypes.ErrNoSpace},
		{"empty key", context.Background(), rpctypes.ErrEmptyKey, false, rpctypes.ErrEmptyKey},
		{"duplicate key in txn", context.Background(), rpctypes.ErrDuplicateKey, false, nil},
		{"learner asked to serve", context.Background(), errNotSupportedForLearner, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := storeError(tt.parent, "get key", tt.err)
			if is := errors.Is(got, ErrUnavailable); is != tt.wantUnavailable {
				t.Errorf("errors.Is(%v, ErrUnavailable): got %v, want %v", got, is, tt.wantUnavailable)
			}
			if tt.wantIs != nil && !errors.Is(got, tt.wantIs) {
				t.Errorf("got %v, want it to wrap %v", got, tt.wantIs)
			}
		})
	}
}
