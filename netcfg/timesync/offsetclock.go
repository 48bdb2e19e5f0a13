package timesync

import (
	"sync"
	"time"
)

// slewRate is how fast a slew moves the clock, in the kernel's adjtime
// units: 500 µs per second, so a 128 ms slew takes a little over 4 minutes.
const slewRate = 500e-6

// OffsetClock is the appliance's own time when it may not set the host's:
// the host clock plus an offset held in memory. The caller persists Offset
// node-locally if it should outlive the process. Its slews move the offset
// at the kernel's rate, so its time never jumps backwards either.
// The zero OffsetClock is the host's time, offset by nothing.
type OffsetClock struct {
	host func() time.Time // the host clock, time.Now when nil; tests replace it

	mu         sync.Mutex
	base       time.Duration // the offset when the current slew started
	slew       time.Duration // the slew under way, in full
	slewOrigin time.Time     // when it started, by the host clock
}

// NewOffsetClock returns a clock offset from the host's by offset.
func NewOffsetClock(offset time.Duration) *OffsetClock {
	return &OffsetClock{host: time.Now, base: offset}
}

// Now is the host's time plus the current offset.
func (c *OffsetClock) Now() time.Time {
	now := c.hostNow()
	c.mu.Lock()
	defer c.mu.Unlock()
	return now.Add(c.offsetAt(now))
}

// Offset is the current offset from the host's clock, including the part of
// a slew already applied.
func (c *OffsetClock) Offset() time.Duration {
	now := c.hostNow()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offsetAt(now)
}

// Step adds d to the offset at once and ends any slew. It never fails.
func (c *OffsetClock) Step(d time.Duration) error {
	now := c.hostNow()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.base, c.slew = c.offsetAt(now)+d, 0
	return nil
}

// Slew starts moving the offset by d at slewRate, replacing the slew under
// way; the part of it already applied stays. It never fails.
func (c *OffsetClock) Slew(d time.Duration) error {
	now := c.hostNow()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.base, c.slew, c.slewOrigin = c.offsetAt(now), d, now
	return nil
}

// hostNow reads the host clock.
func (c *OffsetClock) hostNow() time.Time {
	if c.host == nil {
		return time.Now()
	}
	return c.host()
}

// Mode is ModeOffset.
func (c *OffsetClock) Mode() string { return ModeOffset }

// offsetAt is the offset at host time now: the base plus as much of the slew
// as the elapsed time allows. c.mu must be held.
func (c *OffsetClock) offsetAt(now time.Time) time.Duration {
	if c.slew == 0 {
		return c.base
	}
	done := time.Duration(float64(now.Sub(c.slewOrigin)) * slewRate)
	switch {
	case done < 0:
		return c.base
	case c.slew > 0:
		return c.base + min(done, c.slew)
	default:
		return c.base - min(done, -c.slew)
	}
}
