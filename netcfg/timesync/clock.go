package timesync

import (
	"fmt"
	"time"
)

// Clock is the clock the appliance keeps: the host's, or its own offset from
// it. The Syncer measures it with Now and corrects it with Step or Slew.
type Clock interface {
	// Now is the clock's current time. It must carry a monotonic reading
	// (as time.Now and its Add do) so that round trips are measured on it.
	Now() time.Time
	// Step moves the clock by d at once.
	Step(d time.Duration) error
	// Slew moves the clock by d gradually, never backwards, replacing any
	// slew still under way: the caller measured the whole remaining error.
	Slew(d time.Duration) error
}

// The modes a clock works in, as Status.Mode and Choice.Mode report them.
const (
	// ModeSystem means the clock is the host's and corrections set it.
	ModeSystem = "system"
	// ModeOffset means the process may not set the host's clock, so the
	// appliance keeps its own time as an offset from it, in this node only.
	ModeOffset = "offset"
)

// Choice says which clock NewClock chose and why, for the log and for the
// operator who wonders why PUT /config/time did not change the host's clock.
type Choice struct {
	// Mode is ModeSystem or ModeOffset.
	Mode string
	// Reason explains the choice in a sentence.
	Reason string
}

// NewClock returns the clock to keep: a SystemClock when the probe finds that
// this process may set the host's clock, otherwise an OffsetClock starting at
// offset (the one kept from before, or zero). The probe changes nothing.
func NewClock(offset time.Duration) (Clock, Choice) {
	if ok, why := probeSetTime(); !ok {
		return NewOffsetClock(offset), Choice{Mode: ModeOffset, Reason: why}
	}
	return SystemClock{}, Choice{Mode: ModeSystem, Reason: "the process may set the system clock (CAP_SYS_TIME)"}
}

// SetTime makes c read t now: the one way PUT /config/time sets the time,
// whichever the clock.
func SetTime(c Clock, t time.Time) error {
	if err := c.Step(t.Sub(c.Now())); err != nil {
		return fmt.Errorf("set time: %w", err)
	}
	return nil
}

// modeOf is the mode a clock reports, or "" for one that does not.
func modeOf(c Clock) string {
	if m, ok := c.(interface{ Mode() string }); ok {
		return m.Mode()
	}
	return ""
}
