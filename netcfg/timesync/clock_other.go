//go:build !linux

package timesync

import (
	"errors"
	"time"
)

// SystemClock is the host's clock. Only Linux can set it here; elsewhere
// NewClock never chooses it and its corrections fail.
type SystemClock struct{}

// errUnsupported is why SystemClock cannot correct the clock outside Linux.
var errUnsupported = errors.New("setting the system clock is only supported on Linux")

// Now is the host's time.
func (SystemClock) Now() time.Time { return time.Now() }

// Step fails: see errUnsupported.
func (SystemClock) Step(time.Duration) error { return errUnsupported }

// Slew fails: see errUnsupported.
func (SystemClock) Slew(time.Duration) error { return errUnsupported }

// Mode is ModeSystem.
func (SystemClock) Mode() string { return ModeSystem }

// probeSetTime refuses: see errUnsupported.
func probeSetTime() (bool, string) {
	return false, errUnsupported.Error() + ", so the time is kept as a node-local offset"
}
