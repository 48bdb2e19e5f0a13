package systemd

import (
	"context"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// runWatchdog starts n.RunWatchdog and returns a stop function that cancels it
// and fails the test unless it returns nil promptly.
func runWatchdog(t *testing.T, n *Notifier, healthy func() bool) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.RunWatchdog(ctx, healthy) }()
	return func() {
		t.Helper()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("RunWatchdog: got %v, want nil", err)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("RunWatchdog did not return after ctx was cancelled")
		}
	}
}

func TestWatchdogPingsWhileHealthy(t *testing.T) {
	const interval = 100 * time.Millisecond // pings every 50ms
	conn := listen(t, true)
	t.Setenv("WATCHDOG_USEC", strconv.Itoa(int(interval/time.Microsecond)))
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	var healthy atomic.Bool
	healthy.Store(true)
	stop := runWatchdog(t, New(nil), healthy.Load)
	defer stop()

	for i := range 3 {
		got, ok := recv(t, conn, time.Second)
		if !ok || got != "WATCHDOG=1" {
			t.Fatalf("ping %d: got %q (received %v), want %q", i, got, ok, "WATCHDOG=1")
		}
	}

	healthy.Store(false)
	for { // drain pings sent before the flip; a quiet interval means none are left
		if _, ok := recv(t, conn, interval); !ok {
			break
		}
	}
	if got, ok := recv(t, conn, 3*interval); ok {
		t.Fatalf("while unhealthy: got %q, want no ping", got)
	}

	healthy.Store(true)
	if got, ok := recv(t, conn, time.Second); !ok || got != "WATCHDOG=1" {
		t.Errorf("after recovery: got %q (received %v), want %q", got, ok, "WATCHDOG=1")
	}
}

func TestWatchdogDisabled(t *testing.T) {
	tests := []struct {
		name, usec, pid string
	}{
		{"no WATCHDOG_USEC", "", ""},
		{"watchdog meant for another process", "20000", strconv.Itoa(os.Getpid() + 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := listen(t, false)
			t.Setenv("WATCHDOG_USEC", tt.usec)
			t.Setenv("WATCHDOG_PID", tt.pid)
			var calls atomic.Int32
			stop := runWatchdog(t, New(nil), func() bool { calls.Add(1); return true })
			if got, ok := recv(t, conn, 200*time.Millisecond); ok {
				t.Errorf("got %q, want no ping", got)
			}
			stop()
			if got := calls.Load(); got != 0 {
				t.Errorf("healthy called %d times, want 0", got)
			}
		})
	}
}

func TestWatchdogMalformedInterval(t *testing.T) {
	for _, usec := range []string{"abc", "0", "-5"} {
		t.Run(usec, func(t *testing.T) {
			listen(t, false)
			t.Setenv("WATCHDOG_USEC", usec)
			unsetenv(t, "WATCHDOG_PID")
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := New(nil).RunWatchdog(ctx, func() bool { return true }); err == nil || ctx.Err() != nil {
				t.Errorf("got err=%v after ctx err=%v, want an immediate error", err, ctx.Err())
			}
		})
	}
}
