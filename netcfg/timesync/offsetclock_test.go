package timesync

import (
	"testing"
	"time"
)

// fakeHost is a host clock the test moves by hand.
type fakeHost struct{ now time.Time }

func (h *fakeHost) get() time.Time          { return h.now }
func (h *fakeHost) advance(d time.Duration) { h.now = h.now.Add(d) }

// TestOffsetClock checks that steps move the offset at once and slews at
// the kernel's rate, a new slew replacing the rest of the old.
func TestOffsetClock(t *testing.T) {
	host := &fakeHost{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	c := NewOffsetClock(time.Second)
	c.host = host.get
	check := func(step string, want time.Duration) {
		t.Helper()
		if got := c.Offset(); got != want {
			t.Errorf("%s: offset %v, want %v", step, got, want)
		}
		if got := c.Now().Sub(host.now); got != want {
			t.Errorf("%s: Now is host + %v, want + %v", step, got, want)
		}
	}

	check("start", time.Second)
	_ = c.Step(-3 * time.Second)
	check("after a step back", -2*time.Second)

	_ = c.Slew(100 * time.Millisecond)
	check("slew just started", -2*time.Second)
	host.advance(100 * time.Second) // 50 ms at 500 µs/s
	check("slew half done", -2*time.Second+50*time.Millisecond)
	host.advance(time.Hour)
	check("slew done", -2*time.Second+100*time.Millisecond)

	_ = c.Slew(-10 * time.Millisecond)
	host.advance(10 * time.Second) // 5 ms
	_ = c.Slew(-20 * time.Millisecond)
	host.advance(10 * time.Second) // 5 ms more of the new slew
	check("slew replaced", -2*time.Second+90*time.Millisecond)

	_ = c.Step(10 * time.Millisecond)
	host.advance(time.Hour)
	check("step ends the slew", -2*time.Second+100*time.Millisecond)
}

// TestSetTime checks that SetTime makes the clock read the given time.
func TestSetTime(t *testing.T) {
	c := NewOffsetClock(0)
	want := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	if err := SetTime(c, want); err != nil {
		t.Fatalf("SetTime: %v", err)
	}
	if got := c.Now(); (got.Sub(want)).Abs() > time.Second {
		t.Errorf("Now = %v after SetTime(%v)", got, want)
	}
}

// TestNewClock checks that the probe's choice matches the clock it returns
// and says why. It touches no clock: the probe only reads.
func TestNewClock(t *testing.T) {
	c, choice := NewClock(42 * time.Second)
	if choice.Reason == "" {
		t.Error("Choice.Reason is empty, want why")
	}
	switch c := c.(type) {
	case SystemClock:
		if choice.Mode != ModeSystem {
			t.Errorf("SystemClock chosen with mode %q", choice.Mode)
		}
	case *OffsetClock:
		if choice.Mode != ModeOffset || c.Offset() != 42*time.Second {
			t.Errorf("OffsetClock chosen with mode %q, offset %v; want %q, 42s", choice.Mode, c.Offset(), ModeOffset)
		}
	default:
		t.Fatalf("NewClock returned %T", c)
	}
	if modeOf(c) != choice.Mode {
		t.Errorf("clock reports mode %q, choice says %q", modeOf(c), choice.Mode)
	}
	t.Logf("chose %s: %s", choice.Mode, choice.Reason)
}
