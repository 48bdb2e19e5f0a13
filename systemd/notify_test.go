package systemd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// listen creates the datagram socket a service manager would own and points
// NOTIFY_SOCKET at it. abstract selects an abstract socket name ("@...").
func listen(t *testing.T, abstract bool) *net.UnixConn {
	t.Helper()
	name := filepath.Join(t.TempDir(), "notify.sock")
	if abstract {
		name = fmt.Sprintf("@keywarden-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen %s: %v", name, err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", name)
	return conn
}

// recv returns the next datagram, or ok=false if none arrives within wait.
func recv(t *testing.T, conn *net.UnixConn, wait time.Duration) (msg string, ok bool) {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(wait)); err != nil {
		t.Fatalf("set deadline: %v", err)
	}
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return "", false
	}
	if err != nil {
		t.Fatalf("read notification: %v", err)
	}
	return string(buf[:n]), true
}

// unsetenv removes key for the duration of the test.
func unsetenv(t *testing.T, key string) {
	t.Helper()
	t.Setenv(key, "") // registers the restore
	os.Unsetenv(key)
}

func TestNotifications(t *testing.T) {
	tests := []struct {
		name string
		send func(n *Notifier) error
		want string
	}{
		{"ready", (*Notifier).Ready, "READY=1"},
		{"stopping", (*Notifier).Stopping, "STOPPING=1"},
		{"status", func(n *Notifier) error { return n.Status("unlocking") }, "STATUS=unlocking"},
		{"status with newlines", func(n *Notifier) error { return n.Status("a\nREADY=1\r\nb") }, "STATUS=a READY=1  b"},
	}
	for _, abstract := range []bool{false, true} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/abstract=%v", tt.name, abstract), func(t *testing.T) {
				conn := listen(t, abstract)
				if err := tt.send(New(nil)); err != nil {
					t.Fatalf("send: %v", err)
				}
				got, ok := recv(t, conn, time.Second)
				if !ok || got != tt.want {
					t.Errorf("got %q (received %v), want %q", got, ok, tt.want)
				}
				if extra, ok := recv(t, conn, 50*time.Millisecond); ok {
					t.Errorf("got extra datagram %q, want exactly one", extra)
				}
			})
		}
	}
}

func TestOutsideSystemdIsNoop(t *testing.T) {
	unsetenv(t, "NOTIFY_SOCKET")
	t.Setenv("WATCHDOG_USEC", "20000")
	n := New(nil)
	for name, send := range map[string]func() error{
		"ready": n.Ready, "stopping": n.Stopping, "status": func() error { return n.Status("x") },
	} {
		if err := send(); err != nil {
			t.Errorf("%s: got %v, want nil", name, err)
		}
	}
	var calls atomic.Int32
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := n.RunWatchdog(ctx, func() bool { calls.Add(1); return true }); err != nil {
		t.Errorf("RunWatchdog: got %v, want nil", err)
	}
	if ctx.Err() == nil {
		t.Errorf("RunWatchdog returned before ctx ended, want it to block")
	}
	if got := calls.Load(); got != 0 {
		t.Errorf("healthy called %d times, want 0", got)
	}
}

func TestSendFailureIsReported(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "missing.sock"))
	if err := New(nil).Ready(); err == nil {
		t.Errorf("Ready to a missing socket: got nil error, want one")
	}
}
