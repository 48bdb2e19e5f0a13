package netcfg

import "errors"

// Sentinel errors. Callers test them with errors.Is; the API maps ErrInvalid
// to 400 and ErrNoTry to 404.
var (
	// ErrInvalid marks a config that Validate rejects. Apply and Try return
	// it before touching the kernel, so an invalid config changes nothing.
	ErrInvalid = errors.New("invalid network config")
	// ErrNoInterface means the interface to manage does not exist.
	ErrNoInterface = errors.New("network interface not found")
	// ErrNotConfigured means Try has no confirmed config to fall back to:
	// Apply one first.
	ErrNotConfigured = errors.New("no network config applied yet")
	// ErrNoTry means Confirm found no pending try with that id: there is
	// none, it was replaced by a later Try or Apply, or its time ran out and
	// the previous config is back.
	ErrNoTry = errors.New("no pending network config try with that id")
	// ErrClosed means the Manager was closed.
	ErrClosed = errors.New("network config manager closed")
)
