package timesync

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// StepThreshold is the offset from which the syncer steps the clock instead
// of slewing it, as ntpd does: a slew of this size already takes over four
// minutes at the kernel's rate.
const StepThreshold = 128 * time.Millisecond

// Timing of Run and of each query.
const (
	// PollInterval is how often Run syncs while syncs succeed.
	PollInterval = 128 * time.Second
	// queryTimeout bounds one server's answer.
	queryTimeout = 5 * time.Second
	// minRetry and maxRetry bound the wait after failed syncs, which
	// doubles with each failure in a row so unreachable servers are not
	// hammered.
	minRetry = 4 * time.Second
	maxRetry = 1024 * time.Second
)

// Status is the outcome of the last sync, for the status endpoint, the
// metrics and the cluster status.
type Status struct {
	// Synced means the last sync succeeded.
	Synced bool
	// Offset is the correction the last successful sync made: the servers'
	// time minus the clock's before it.
	Offset time.Duration
	// Servers are the answers of the last sync, in configured order.
	Servers []ServerResult
	// LastSync is when the last successful sync happened, by the clock.
	LastSync time.Time
	// Mode is how the clock is kept: ModeSystem or ModeOffset.
	Mode string
	// Err says why the last sync failed; empty when it succeeded.
	Err string
}

// Syncer keeps a Clock in step with NTP servers, as its Config says.
type Syncer struct {
	clock Clock
	log   *slog.Logger
	wake  chan struct{} // SetConfig tells Run to sync now

	// Tests shorten these.
	timeout time.Duration
	poll    time.Duration

	syncMu sync.Mutex // one sync at a time, or two would correct twice

	mu     sync.Mutex
	cfg    Config
	status Status
}

// NewSyncer returns a syncer for clock with NTP disabled until SetConfig.
// It starts nothing.
func NewSyncer(clock Clock, log *slog.Logger) *Syncer {
	return &Syncer{
		clock:   clock,
		log:     log,
		wake:    make(chan struct{}, 1),
		timeout: queryTimeout,
		poll:    PollInterval,
		status:  Status{Mode: modeOf(clock)},
	}
}

// SetConfig replaces the configuration, which the caller has validated, and
// makes Run sync at once under it. Disabling NTP clears Synced.
func (s *Syncer) SetConfig(c Config) {
	s.mu.Lock()
	s.cfg = c.clone()
	if !c.Enabled {
		s.status.Synced, s.status.Err = false, ""
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Config is the current configuration.
func (s *Syncer) Config() Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg.clone()
}

// Status is the outcome of the last sync.
func (s *Syncer) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.Servers = slices.Clone(st.Servers)
	return st
}

// SyncOnce queries every server at once, combines the answers that agree,
// and corrects the clock by the result: a slew below StepThreshold, a step
// from it. It fails with ErrDisabled when NTP is disabled, ErrInvalidConfig,
// ErrNoAnswer or ErrNoMajority (see combine), or the clock's error; each
// failure but ErrDisabled is recorded in Status. A cancelled ctx returns its
// error and records nothing.
func (s *Syncer) SyncOnce(ctx context.Context) (Status, error) {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	cfg := s.Config()
	if !cfg.Enabled {
		return s.Status(), ErrDisabled
	}
	if err := cfg.Validate(); err != nil {
		return s.record(nil, 0, err), err
	}
	results := s.queryAll(ctx, cfg.Servers)
	if err := ctx.Err(); err != nil {
		return s.Status(), fmt.Errorf("ntp sync: %w", err)
	}
	offset, err := combine(results)
	for _, r := range results {
		if r.Outlier {
			s.log.Info("NTP server disagrees with the others, ignored", "server", r.Server, "offset", r.Offset.String())
		}
	}
	if err == nil {
		err = s.correct(offset)
	}
	if err != nil {
		err = fmt.Errorf("ntp sync: %w", err)
	}
	return s.record(results, offset, err), err
}

// correct slews or steps the clock by offset.
func (s *Syncer) correct(offset time.Duration) error {
	if offset.Abs() < StepThreshold {
		s.log.Debug("slewing clock", "offset", offset.String())
		return s.clock.Slew(offset)
	}
	s.log.Info("stepping clock", "offset", offset.String())
	return s.clock.Step(offset)
}

// record stores the outcome of a sync as the status and returns it.
func (s *Syncer) record(results []ServerResult, offset time.Duration, err error) Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.status
	st.Servers, st.Synced, st.Err = results, err == nil, ""
	if err != nil {
		st.Err = err.Error()
	} else {
		st.Offset, st.LastSync = offset, s.clock.Now()
	}
	out := *st
	out.Servers = slices.Clone(results)
	return out
}

// Run syncs every PollInterval while NTP is enabled, sooner after SetConfig,
// and after failures waits from minRetry doubling up to maxRetry. It returns
// when ctx ends; that is not an error.
func (s *Syncer) Run(ctx context.Context) {
	failures := 0
	for {
		delay := s.poll
		s.drainWake() // this sync reads the newest configuration anyway
		if s.Config().Enabled {
			_, err := s.SyncOnce(ctx)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				failures++
				delay = retryDelay(failures)
				s.log.Warn("NTP sync failed", "err", err, "retry_in", delay.String())
			default:
				failures = 0
			}
		}
		if !s.sleep(ctx, delay) {
			return
		}
	}
}

// sleep waits for d or a new configuration; it reports false when ctx ended.
func (s *Syncer) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-s.wake:
	case <-t.C:
	}
	return true
}

// drainWake drops a pending wake-up from SetConfig.
func (s *Syncer) drainWake() {
	select {
	case <-s.wake:
	default:
	}
}

// retryDelay is the wait after the given number of failed syncs in a row.
func retryDelay(failures int) time.Duration {
	d := minRetry
	for i := 1; i < failures && d < maxRetry; i++ {
		d *= 2
	}
	return min(d, maxRetry)
}
