package timesync

import "errors"

// The package's sentinel errors, in one place so that the appliance can map
// each to one HTTP status. Every error a function returns wraps at most one
// of them; the functions say which.
var (
	// ErrInvalidConfig means an NTP configuration is malformed; the error
	// lists every problem.
	ErrInvalidConfig = errors.New("timesync: invalid NTP configuration")
	// ErrDisabled means NTP is disabled, so the syncer leaves the clock alone.
	ErrDisabled = errors.New("timesync: NTP is disabled")
	// ErrNoAnswer means no server answered with a usable time.
	ErrNoAnswer = errors.New("timesync: no NTP server answered")
	// ErrNoMajority means the servers that answered disagree and no majority
	// of them agrees on the time, so none can be trusted.
	ErrNoMajority = errors.New("timesync: NTP servers disagree")
	// ErrClockSkew means a cluster member's clock differs from this node's by
	// more than the allowed skew.
	ErrClockSkew = errors.New("timesync: clock skew too large")
)
