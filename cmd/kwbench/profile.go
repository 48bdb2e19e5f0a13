package main

import (
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"syscall"
)

// profiler records CPU profiles of the API phases: kwbench's own with
// runtime/pprof, and the daemon's with perf(1), because keywardend has no
// profiling endpoint and Go binaries carry frame pointers perf can follow.
// A nil *profiler profiles nothing. Profiling problems are logged, never
// fatal: the benchmark still runs.
type profiler struct {
	dir string
	log *slog.Logger
}

// newProfiler returns a profiler writing to dir, or nil when dir is empty.
func newProfiler(dir string, log *slog.Logger) *profiler {
	if dir == "" {
		return nil
	}
	return &profiler{dir: dir, log: log}
}

// start begins profiling kwbench and, when pid is not 0, the daemon, and
// returns the function that stops both.
func (p *profiler) start(mech string, pid int) (stop func()) {
	if p == nil {
		return func() {}
	}
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		p.log.Warn("profile: create directory", "err", err)
		return func() {}
	}
	stopSelf := p.startSelf(filepath.Join(p.dir, "kwbench-"+mech+".pprof"))
	stopDaemon := p.startPerf(filepath.Join(p.dir, "keywardend-"+mech+".perf.data"), pid)
	return func() {
		stopDaemon()
		stopSelf()
	}
}

func (p *profiler) startSelf(path string) func() {
	f, err := os.Create(path)
	if err != nil {
		p.log.Warn("profile: kwbench", "err", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		p.log.Warn("profile: kwbench", "err", err)
		_ = f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			p.log.Warn("profile: kwbench", "err", err)
		}
		p.log.Info("profile written", "file", path, "view", "go tool pprof -top "+path)
	}
}

// startPerf runs perf record on the daemon until the returned function
// interrupts it.
func (p *profiler) startPerf(path string, pid int) func() {
	if pid == 0 {
		return func() {}
	}
	perf, err := exec.LookPath("perf")
	if err != nil {
		p.log.Warn("profile: perf not found; the daemon is not profiled")
		return func() {}
	}
	cmd := exec.Command(perf, "record", "-q", "-g", "-F", "999", "-p", strconv.Itoa(pid), "-o", path)
	if err := cmd.Start(); err != nil {
		p.log.Warn("profile: perf", "err", err)
		return func() {}
	}
	return func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		var exit *exec.ExitError
		if err := cmd.Wait(); err != nil && !errors.As(err, &exit) {
			p.log.Warn("profile: perf", "err", err)
			return
		}
		p.log.Info("profile written", "file", path, "view", "perf report --no-children -i "+path)
	}
}
