package timesync

import (
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// SystemClock is the host's clock, set through adjtimex(2); it needs
// CAP_SYS_TIME in the initial user namespace.
type SystemClock struct{}

// Now is the host's time.
func (SystemClock) Now() time.Time { return time.Now() }

// Step moves the host's clock by d in one call (ADJ_SETOFFSET), which the
// kernel applies atomically, unlike reading and setting the time. It first
// ends any slew under way, whose remainder d already counts.
func (SystemClock) Step(d time.Duration) error {
	if err := singleShot(0); err != nil {
		return fmt.Errorf("step system clock: end slew: %w", err)
	}
	tx := unix.Timex{Modes: unix.ADJ_SETOFFSET, Time: unix.NsecToTimeval(d.Nanoseconds())}
	if _, err := unix.Adjtimex(&tx); err != nil {
		return fmt.Errorf("step system clock by %v: %w", d, err)
	}
	return nil
}

// Slew makes the kernel move the host's clock by d at 500 µs per second, as
// adjtime(3) does, replacing the slew under way.
func (SystemClock) Slew(d time.Duration) error {
	if err := singleShot(d); err != nil {
		return fmt.Errorf("slew system clock by %v: %w", d, err)
	}
	return nil
}

// Mode is ModeSystem.
func (SystemClock) Mode() string { return ModeSystem }

// singleShot sets the kernel's remaining adjtime-style slew to d, to the
// microsecond.
func singleShot(d time.Duration) error {
	tx := unix.Timex{Modes: unix.ADJ_OFFSET_SINGLESHOT}
	setInt(&tx.Offset, d.Microseconds())
	_, err := unix.Adjtimex(&tx)
	return err
}

// setInt stores v in a Timex field whose width depends on the architecture.
func setInt[T ~int32 | ~int64](p *T, v int64) { *p = T(v) }

// probeSetTime reports whether this process may set the host's clock, and
// why, without changing it: the kernel checks CAP_SYS_TIME in the initial
// user namespace, so a capability held in a container's own user namespace
// does not count, and a seccomp filter may refuse adjtimex altogether.
func probeSetTime() (bool, string) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false, fmt.Sprintf("cannot read the process capabilities (%v), so the time is kept as a node-local offset", err)
	}
	if data[0].Effective&(1<<unix.CAP_SYS_TIME) == 0 {
		return false, "the process lacks CAP_SYS_TIME, so the time is kept as a node-local offset"
	}
	if !initialUserNamespace() {
		return false, "the process runs in a user namespace, where CAP_SYS_TIME does not set the host clock, so the time is kept as a node-local offset"
	}
	var tx unix.Timex // Modes 0 only reads
	if _, err := unix.Adjtimex(&tx); err != nil {
		return false, fmt.Sprintf("adjtimex is refused (%v), so the time is kept as a node-local offset", err)
	}
	return true, ""
}

// initialUserNamespace reports whether the process's user namespace maps
// every ID to itself, as only the initial one does.
func initialUserNamespace() bool {
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return false
	}
	return strings.Join(strings.Fields(string(b)), " ") == "0 0 4294967295"
}
