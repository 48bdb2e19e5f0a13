package netcfg

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"
)

// DefaultTryTimeout is how long a tried config waits for Confirm when Try
// is given no timeout: long enough for an operator to reconnect to the new
// address and confirm, short enough that a config that cut them off comes
// back by itself soon.
const DefaultTryTimeout = 60 * time.Second

// pendingTry is a tried config awaiting confirmation.
type pendingTry struct {
	id       string
	deadline time.Time
	prev     spec // the confirmed config to go back to
	timer    *time.Timer
}

// Try applies c at once but only tentatively: unless Confirm(id) comes
// within timeout (DefaultTryTimeout when timeout <= 0), the Manager goes
// back to the config that was in force before, by itself. This protects an
// operator who configures the appliance over the network it configures.
//
// Try needs a confirmed config to go back to (ErrNotConfigured before the
// first Apply). A Try while another is pending replaces it; both fall back
// to the last confirmed config. An invalid c returns an error wrapping
// ErrInvalid and changes nothing; when the kernel refuses c, Try restores
// the previous config at once and returns the error.
//
// Nothing here persists: the caller stores a config only once it is
// confirmed, so that a restart during a Try also comes back to the old one.
func (m *Manager) Try(ctx context.Context, c Config, timeout time.Duration) (string, error) {
	s, err := c.parse()
	if err != nil {
		return "", err
	}
	if timeout <= 0 {
		timeout = DefaultTryTimeout
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.closed:
		return "", ErrClosed
	case m.desired == nil:
		return "", fmt.Errorf("try network config: %w", ErrNotConfigured)
	}
	prev := *m.desired
	if m.try != nil {
		prev = m.try.prev
	}
	m.dropTry()
	m.desired = &s
	changes, err := m.reconcile(ctx, s)
	if err != nil {
		m.desired = &prev
		_, rerr := m.reconcile(context.WithoutCancel(ctx), prev)
		return "", fmt.Errorf("try network config on %s: %w", m.iface, errors.Join(err, rerr))
	}
	id := rand.Text()
	t := &pendingTry{id: id, deadline: time.Now().Add(timeout), prev: prev}
	t.timer = time.AfterFunc(timeout, func() { m.expire(id) })
	m.try = t
	m.log.Info("trying network config", "config", s.config(), "try", id, "deadline", t.deadline, "changes", changes)
	return id, nil
}

// Confirm makes the pending Try with this id definite. The error wraps
// ErrNoTry when there is no such Try, including one whose time ran out.
func (m *Manager) Confirm(id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if m.try == nil || m.try.id != id || !time.Now().Before(m.try.deadline) {
		return fmt.Errorf("confirm %q: %w", id, ErrNoTry)
	}
	m.dropTry()
	m.log.Info("confirmed network config", "try", id)
	return nil
}

// Pending returns the id and deadline of the Try awaiting confirmation, and
// false when there is none.
func (m *Manager) Pending() (id string, deadline time.Time, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.try == nil {
		return "", time.Time{}, false
	}
	return m.try.id, m.try.deadline, true
}

// expire reverts the Try with this id when its time runs out, unless it was
// confirmed or replaced in the meantime.
func (m *Manager) expire(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || m.try == nil || m.try.id != id {
		return
	}
	prev := m.try.prev
	m.try = nil
	m.desired = &prev
	changes, err := m.reconcile(context.Background(), prev)
	m.log.Warn("network config try not confirmed in time, reverted", "try", id, "config", prev.config(), "changes", changes)
	if err != nil {
		m.log.Error("revert network config try; Run keeps retrying", "try", id, "err", err)
	}
}

// dropTry forgets the pending Try and stops its timer. Callers hold m.mu.
func (m *Manager) dropTry() {
	if m.try != nil {
		m.try.timer.Stop()
		m.try = nil
	}
}
