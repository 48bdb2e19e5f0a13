package main

import (
	"crypto/sha256"
	"os"
	"strconv"
	"testing"
	"time"
)

// TestSampleCPU burns CPU until /proc shows it and checks that every counter
// saw it. It works on a loaded machine: it waits for CPU time, not wall time.
func TestSampleCPU(t *testing.T) {
	const burn = 100 * time.Millisecond
	before := sampleCPU(os.Getpid())
	if !before.hasDaemon {
		t.Fatalf("sampleCPU(own pid) could not read /proc/%d/stat", os.Getpid())
	}
	sum := sha256.Sum256(nil)
	after := before
	for end := time.Now().Add(20 * time.Second); after.self-before.self < burn; after = sampleCPU(os.Getpid()) {
		if time.Now().After(end) {
			t.Fatalf("own CPU time grew by %v in 20 s of busy looping, want %v", after.self-before.self, burn)
		}
		for range 10000 {
			sum = sha256.Sum256(sum[:])
		}
	}
	// The same process is read as "self" and as the daemon.
	for name, got := range map[string]time.Duration{"daemon": after.daemon - before.daemon, "machine": after.busy - before.busy} {
		if got < burn-2*clockTick {
			t.Errorf("%s CPU time grew by %v while ours grew by %v, want at least %v", name, got, after.self-before.self, burn-2*clockTick)
		}
	}
	if d := after.since(before); d.kwbench <= 0 || d.machine <= 0 || d.wall <= 0 || !d.hasDaemon {
		t.Errorf("since = %+v, want positive times and hasDaemon", d)
	}
}

func TestProcCPUErrors(t *testing.T) {
	tests := []struct{ name, pid string }{
		{"no such process", strconv.Itoa(1 << 30)},
		{"not a pid", "nonexistent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d, err := procCPU(tt.pid); err == nil {
				t.Errorf("procCPU(%q) = %v, nil; want an error", tt.pid, d)
			}
		})
	}
}

func TestUsPerOp(t *testing.T) {
	tests := []struct {
		cpu  time.Duration
		ops  int
		want float64
	}{
		{time.Second, 1000, 1000},
		{20 * time.Second, 400000, 50},
		{time.Millisecond, 3, 333.33},
		{time.Second, 0, 0},
	}
	for _, tt := range tests {
		if got := usPerOp(tt.cpu, tt.ops); got != tt.want {
			t.Errorf("usPerOp(%v, %d) = %v, want %v", tt.cpu, tt.ops, got, tt.want)
		}
	}
}

func TestCPUDelta(t *testing.T) {
	a := cpuDelta{wall: time.Second, kwbench: 500 * time.Millisecond, daemon: time.Second, machine: 1800 * time.Millisecond, hasDaemon: true}
	b := cpuDelta{wall: time.Second, kwbench: 300 * time.Millisecond, daemon: 900 * time.Millisecond, machine: 1200 * time.Millisecond, hasDaemon: true}
	sum := (cpuDelta{}).add(a).add(b)
	tests := []struct {
		name string
		got  float64
		want float64
	}{
		{"kwbench cores", sum.cores(sum.kwbench), 0.4},
		{"daemon cores", sum.cores(sum.daemon), 0.95},
		{"foreign cores", sum.cores(sum.foreign()), 0.15},
		{"no wall time", (cpuDelta{}).cores(time.Second), 0},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if !sum.hasDaemon {
		t.Errorf("sum of two deltas with a daemon: hasDaemon = false, want true")
	}
	if partial := (cpuDelta{}).add(a).add(cpuDelta{wall: time.Second}); partial.hasDaemon {
		t.Errorf("sum with a delta lacking the daemon: hasDaemon = true, want false")
	}
	if f := (cpuDelta{kwbench: time.Second, machine: time.Millisecond}).foreign(); f != 0 {
		t.Errorf("foreign when the machine counter lags ours = %v, want 0", f)
	}
}
