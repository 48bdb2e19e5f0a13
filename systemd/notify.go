// Package systemd speaks the service manager's notification protocol
// (sd_notify) so keywardend can report readiness, status, shutdown and
// liveness, and ships the daemon's unit file. Outside systemd (NOTIFY_SOCKET
// unset) every call is a no-op, so the same binary runs unchanged in a
// terminal, a container or a test.
package systemd

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Notifier sends notifications to the service manager that started the
// process. It reads its environment once, in New, so that later changes to
// the environment (or children inheriting it) cannot redirect messages.
type Notifier struct {
	socket      string        // NOTIFY_SOCKET; "" disables every notification
	watchdog    time.Duration // WATCHDOG_USEC; 0 disables the watchdog
	watchdogErr error         // a malformed WATCHDOG_USEC, reported by RunWatchdog
	logger      *slog.Logger
}

// New returns a Notifier configured from NOTIFY_SOCKET, WATCHDOG_USEC and
// WATCHDOG_PID. It starts nothing. A nil logger discards log output.
func New(logger *slog.Logger) *Notifier {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	n := &Notifier{socket: os.Getenv("NOTIFY_SOCKET"), logger: logger}
	n.watchdog, n.watchdogErr = watchdogInterval()
	return n
}

// watchdogInterval returns the watchdog timeout systemd expects this process
// to honour, or 0 when there is none. WATCHDOG_PID names the process the
// watchdog is meant for: a child that inherited the variables must not ping
// on its parent's behalf.
func watchdogInterval() (time.Duration, error) {
	usec := os.Getenv("WATCHDOG_USEC")
	if usec == "" {
		return 0, nil
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0, nil
	}
	n, err := strconv.ParseUint(usec, 10, 63)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("systemd watchdog: parse WATCHDOG_USEC %q: want a positive integer", usec)
	}
	return time.Duration(n) * time.Microsecond, nil
}

// Ready tells the service manager that startup has finished: the API is
// listening. With Type=notify, units ordered after keywardend wait for it.
func (n *Notifier) Ready() error { return n.send("READY=1") }

// Stopping tells the service manager that shutdown has begun, so it does not
// mistake a slow, orderly stop for a hang.
func (n *Notifier) Stopping() error { return n.send("STOPPING=1") }

// Status sets the one-line status shown by `systemctl status`. Newlines are
// replaced by spaces because the protocol separates assignments by newline:
// a status must never be able to smuggle in READY=1 or similar.
func (n *Notifier) Status(status string) error {
	status = strings.NewReplacer("\r", " ", "\n", " ").Replace(status)
	return n.send("STATUS=" + status)
}

// send writes one datagram to NOTIFY_SOCKET. A name starting with '@' is an
// abstract socket; the net package maps the '@' to the leading NUL byte.
func (n *Notifier) send(state string) error {
	if n.socket == "" {
		return nil
	}
	addr := &net.UnixAddr{Name: n.socket, Net: "unixgram"}
	conn, err := net.DialUnix("unixgram", nil, addr)
	if err != nil {
		return fmt.Errorf("systemd notify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("systemd notify: %w", err)
	}
	return nil
}

// RunWatchdog pings the service manager's watchdog at half of WATCHDOG_USEC,
// starting immediately, but only while healthy reports true: a daemon that is
// wedged in a way healthy can see is then restarted by systemd
// (Restart=on-failure). It blocks until ctx ends and then returns nil; it
// returns at once with an error only when WATCHDOG_USEC is malformed. Without
// a watchdog (or outside systemd) it just waits for ctx and never calls
// healthy. A failed ping is logged and retried on the next tick rather than
// returned: one lost datagram must not end the loop and so cause a restart.
func (n *Notifier) RunWatchdog(ctx context.Context, healthy func() bool) error {
	if n.watchdogErr != nil {
		return n.watchdogErr
	}
	if n.socket == "" || n.watchdog == 0 {
		<-ctx.Done()
		return nil
	}
	ticker := time.NewTicker(n.watchdog / 2)
	defer ticker.Stop()
	for ctx.Err() == nil {
		n.ping(healthy)
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
	return nil
}

// ping sends one watchdog keep-alive if the daemon is healthy.
func (n *Notifier) ping(healthy func() bool) {
	if !healthy() {
		n.logger.Warn("withholding systemd watchdog ping: daemon unhealthy")
		return
	}
	if err := n.send("WATCHDOG=1"); err != nil {
		n.logger.Warn("systemd watchdog ping failed", "err", err)
	}
}
