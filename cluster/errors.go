package cluster

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// storeError describes err from an etcd call made for a caller whose context
// is parent. Failures meaning the store cannot serve right now (no leader,
// server stopped, client closed, timed out, overloaded) also wrap
// ErrUnavailable; a caller's own cancellation is reported as just that.
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
		errors.Is(err, rpctypes.ErrTooManyRequests):
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

// grpcCode returns the gRPC code of err, whether the client already turned it
// into an etcd error or left it a gRPC status.
func grpcCode(err error) codes.Code {
	var etcdErr rpctypes.EtcdError
	if errors.As(err, &etcdErr) {
		return etcdErr.Code()
	}
	return status.Code(err)
}
