package timesync

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keywarden/keywarden/netcfg/timesync/sntptest"
)

// tolerance is how close a measured offset must come over loopback.
const tolerance = 20 * time.Millisecond

// near reports whether got is within tolerance of want.
func near(got, want time.Duration) bool { return (got - want).Abs() <= tolerance }

// TestSyncOnceCorrects checks that a sync measures the servers' offset over
// real UDP, slews below StepThreshold and steps from it, and that after the
// correction the clock agrees with the servers.
func TestSyncOnceCorrects(t *testing.T) {
	tests := []struct {
		name     string
		offset   time.Duration
		wantStep bool
	}{
		{"small ahead slews", 40 * time.Millisecond, false},
		{"small behind slews", -60 * time.Millisecond, false},
		{"large ahead steps", 300 * time.Millisecond, true},
		{"large behind steps", -2 * time.Second, true},
		{"hours ahead steps", 3 * time.Hour, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var servers []*sntptest.Server
			for range 3 {
				servers = append(servers, startSNTP(t, tt.offset))
			}
			clock := newRecordingClock()
			s := newTestSyncer(t, clock, addrs(servers...)...)

			st, err := s.SyncOnce(t.Context())
			if err != nil {
				t.Fatalf("SyncOnce: %v", err)
			}
			if !st.Synced || st.Err != "" || st.Mode != ModeOffset {
				t.Errorf("status Synced=%v Err=%q Mode=%q, want true, empty, %q", st.Synced, st.Err, st.Mode, ModeOffset)
			}
			if !near(st.Offset, tt.offset) {
				t.Errorf("measured offset %v, want %v ± %v", st.Offset, tt.offset, tolerance)
			}
			checkCorrection(t, clock, tt.offset, tt.wantStep)
			if tt.wantStep {
				// The clock now reads the servers' time: a second sync finds nothing to correct.
				if st, err = s.SyncOnce(t.Context()); err != nil || !near(st.Offset, 0) {
					t.Errorf("after the step: offset %v, err %v, want 0 ± %v", st.Offset, err, tolerance)
				}
			}
		})
	}
}

// checkCorrection checks that clock got exactly one correction, of about
// want, and of the wanted kind.
func checkCorrection(t *testing.T, clock *recordingClock, want time.Duration, wantStep bool) {
	t.Helper()
	steps, slews := clock.calls()
	got, other := slews, steps
	if wantStep {
		got, other = steps, slews
	}
	if len(got) != 1 || len(other) != 0 {
		t.Fatalf("steps %v, slews %v; want one %s", steps, slews, map[bool]string{true: "step", false: "slew"}[wantStep])
	}
	if !near(got[0], want) {
		t.Errorf("corrected by %v, want %v ± %v", got[0], want, tolerance)
	}
}

// TestSyncOnceIgnoresOutlier checks that one server far from two that agree
// is marked an outlier and left out of the correction.
func TestSyncOnceIgnoresOutlier(t *testing.T) {
	good1 := startSNTP(t, 200*time.Millisecond)
	bad := startSNTP(t, 5*time.Second)
	good2 := startSNTP(t, 220*time.Millisecond)
	clock := newRecordingClock()
	s := newTestSyncer(t, clock, addrs(good1, bad, good2)...)

	st, err := s.SyncOnce(t.Context())
	if err != nil {
		t.Fatalf("SyncOnce: %v", err)
	}
	if !near(st.Offset, 210*time.Millisecond) {
		t.Errorf("offset %v, want the mean of the agreeing servers, 210ms ± %v", st.Offset, tolerance)
	}
	for i, wantOutlier := range []bool{false, true, false} {
		if r := st.Servers[i]; r.Outlier != wantOutlier || r.Err != "" {
			t.Errorf("server %d (%v): Outlier %v, Err %q; want %v, no error", i, r.Offset, r.Outlier, r.Err, wantOutlier)
		}
	}
	checkCorrection(t, clock, 210*time.Millisecond, true)
}

// TestSyncOnceNoMajority checks that two servers that disagree correct
// nothing: neither can be shown wrong.
func TestSyncOnceNoMajority(t *testing.T) {
	clock := newRecordingClock()
	s := newTestSyncer(t, clock, addrs(startSNTP(t, 0), startSNTP(t, 3*time.Second))...)

	st, err := s.SyncOnce(t.Context())
	if !errors.Is(err, ErrNoMajority) {
		t.Fatalf("SyncOnce error %v, want ErrNoMajority", err)
	}
	if st.Synced || st.Err == "" {
		t.Errorf("status Synced=%v Err=%q, want false and the reason", st.Synced, st.Err)
	}
	if steps, slews := clock.calls(); len(steps)+len(slews) != 0 {
		t.Errorf("clock corrected (steps %v, slews %v), want untouched", steps, slews)
	}
}

// TestSyncOnceAllServersDown checks that when no server answers — refused
// or silent — the sync fails with ErrNoAnswer, the status stops saying
// Synced, each server says why, and the clock is left alone.
func TestSyncOnceAllServersDown(t *testing.T) {
	live := startSNTP(t, 0)
	silent := startSNTP(t, 0)
	silent.Silent.Store(true)
	clock := newRecordingClock()
	s := newTestSyncer(t, clock, live.Addr())
	if st, err := s.SyncOnce(t.Context()); err != nil || !st.Synced {
		t.Fatalf("first sync: Synced %v, err %v; want a success to lose", st.Synced, err)
	}
	_, slews := clock.calls()

	s.SetConfig(Config{Servers: []string{closedPort(t), silent.Addr(), closedPort(t)}, Enabled: true})
	start := time.Now()
	st, err := s.SyncOnce(t.Context())
	if !errors.Is(err, ErrNoAnswer) {
		t.Fatalf("SyncOnce error %v, want ErrNoAnswer", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("sync took %v, want about the 500ms query timeout: servers must be queried at once", took)
	}
	if st.Synced || st.Err == "" || s.Status().Synced {
		t.Errorf("status Synced=%v Err=%q, want false and the reason", st.Synced, st.Err)
	}
	if len(st.Servers) != 3 {
		t.Fatalf("status lists %d servers, want the 3 configured", len(st.Servers))
	}
	for _, r := range st.Servers {
		if r.Err == "" {
			t.Errorf("server %s: no error, want why it did not answer", r.Server)
		}
	}
	if silent.Queries.Load() == 0 {
		t.Error("the silent server was never queried")
	}
	if steps, slewsNow := clock.calls(); len(steps) != 0 || len(slewsNow) != len(slews) {
		t.Errorf("clock corrected without answers (steps %v, slews %v)", steps, slewsNow)
	}
}

// TestSyncOnceDisabled checks that a disabled syncer neither queries nor
// corrects.
func TestSyncOnceDisabled(t *testing.T) {
	srv := startSNTP(t, time.Second)
	clock := newRecordingClock()
	s := newTestSyncer(t, clock, srv.Addr())
	s.SetConfig(Config{Servers: []string{srv.Addr()}})

	if _, err := s.SyncOnce(t.Context()); !errors.Is(err, ErrDisabled) {
		t.Fatalf("SyncOnce error %v, want ErrDisabled", err)
	}
	if n := srv.Queries.Load(); n != 0 {
		t.Errorf("server got %d queries, want 0", n)
	}
}

// TestSyncOnceCancelled checks that a cancelled sync returns promptly with
// the context's error, even from a server that never answers.
func TestSyncOnceCancelled(t *testing.T) {
	silent := startSNTP(t, 0)
	silent.Silent.Store(true)
	s := newTestSyncer(t, newRecordingClock(), silent.Addr())
	s.timeout = time.Minute
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()

	start := time.Now()
	_, err := s.SyncOnce(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("SyncOnce error %v, want the context's", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("SyncOnce took %v after cancellation, want it to return promptly", took)
	}
}

// TestRun checks that Run syncs as soon as NTP is enabled, without waiting
// for the poll interval, and returns when its context ends.
func TestRun(t *testing.T) {
	srv := startSNTP(t, 500*time.Millisecond)
	clock := newRecordingClock()
	s := newTestSyncer(t, clock)
	s.SetConfig(Config{})
	s.poll = time.Hour
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()

	s.SetConfig(Config{Servers: []string{srv.Addr()}, Enabled: true})
	deadline := time.Now().Add(10 * time.Second)
	for !s.Status().Synced {
		if time.Now().After(deadline) {
			t.Fatalf("not synced within 10s of enabling NTP: %+v", s.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if steps, _ := clock.calls(); len(steps) != 1 || !near(steps[0], 500*time.Millisecond) {
		t.Errorf("steps %v, want one of 500ms ± %v", steps, tolerance)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of cancellation")
	}
}

// TestRetryDelay checks the backoff after failed syncs.
func TestRetryDelay(t *testing.T) {
	tests := []struct {
		failures int
		want     time.Duration
	}{
		{1, minRetry},
		{2, 2 * minRetry},
		{3, 4 * minRetry},
		{9, maxRetry},
		{1000, maxRetry},
	}
	for _, tt := range tests {
		if got := retryDelay(tt.failures); got != tt.want {
			t.Errorf("retryDelay(%d) = %v, want %v", tt.failures, got, tt.want)
		}
	}
}
