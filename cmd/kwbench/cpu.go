package main

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"
)

// clockTick is the unit of /proc CPU times. USER_HZ is 100 on every Linux
// architecture Go supports; reading it properly needs sysconf, i.e. cgo.
const clockTick = 10 * time.Millisecond

// cpuSample is the CPU time used so far by kwbench, the daemon it started
// and the whole machine.
type cpuSample struct {
	at        time.Time
	self      time.Duration
	daemon    time.Duration // zero without a daemon or when unreadable
	busy      time.Duration // all CPUs, every process
	hasDaemon bool
}

// sampleCPU reads the CPU times; pid 0 means no daemon. Unreadable values
// are left zero: the accounting is informative, never a reason to fail.
func sampleCPU(pid int) cpuSample {
	s := cpuSample{at: time.Now()}
	s.self, _ = procCPU("self")
	if pid > 0 {
		var err error
		s.daemon, err = procCPU(strconv.Itoa(pid))
		s.hasDaemon = err == nil
	}
	s.busy, _ = machineBusy()
	return s
}

// procCPU returns utime+stime of /proc/<pid>/stat.
func procCPU(pid string) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces and parentheses; fields are
	// counted after its closing parenthesis, which starts at field 3.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	return ticks(f[11:13]) // fields 14 and 15: utime, stime
}

// machineBusy returns the non-idle time of all CPUs from /proc/stat.
func machineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 9 || string(f[0]) != "cpu" {
		return 0, errors.New("malformed /proc/stat")
	}
	// user nice system (idle iowait skipped) irq softirq steal
	return ticks(append(f[1:4:4], f[6:9]...))
}

func ticks(fields [][]byte) (time.Duration, error) {
	var sum time.Duration
	for _, f := range fields {
		n, err := strconv.ParseInt(string(f), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse cpu ticks: %w", err)
		}
		sum += time.Duration(n) * clockTick
	}
	return sum, nil
}

// cpuDelta is the CPU spent between two samples, or over several windows
// added together.
type cpuDelta struct {
	wall, kwbench, daemon, machine time.Duration
	hasDaemon                      bool
}

func (s cpuSample) since(before cpuSample) cpuDelta {
	return cpuDelta{
		wall:      s.at.Sub(before.at),
		kwbench:   s.self - before.self,
		daemon:    s.daemon - before.daemon,
		machine:   s.busy - before.busy,
		hasDaemon: s.hasDaemon && before.hasDaemon,
	}
}

// add returns the sum of two deltas.
func (d cpuDelta) add(o cpuDelta) cpuDelta {
	return cpuDelta{
		wall:      d.wall + o.wall,
		kwbench:   d.kwbench + o.kwbench,
		daemon:    d.daemon + o.daemon,
		machine:   d.machine + o.machine,
		hasDaemon: (d.wall == 0 || d.hasDaemon) && o.hasDaemon,
	}
}

// cores converts CPU time spent during d into cores (CPU seconds per wall
// second), rounded to two decimals.
func (d cpuDelta) cores(cpu time.Duration) float64 {
	if d.wall <= 0 {
		return 0
	}
	return round2(cpu.Seconds() / d.wall.Seconds())
}

// foreign is the CPU time of processes other than kwbench and its daemon.
func (d cpuDelta) foreign() time.Duration { return max(d.machine-d.kwbench-d.daemon, 0) }

// foreignLoadLimit is how many cores other processes may use during a phase
// before kwbench warns that its figures are not reliable.
const foreignLoadLimit = 0.2

// explain logs where the CPU went in both phases: the cost of one signature
// in CPU microseconds is comparable even when other processes compete for
// the cores, which the per-second figures are not.
func explain(log *slog.Logger, mech string, api apiRun, raw rawRun) {
	a, r := api.cpu, raw.cpu
	apiAttrs := []any{"mechanism", mech, "requests", api.ops, "verified", api.verified,
		"kwbench_cores", a.cores(a.kwbench), "kwbench_us_per_op", usPerOp(a.kwbench, api.ops)}
	foreign := r.cores(r.foreign())
	if a.hasDaemon {
		apiAttrs = append(apiAttrs, "daemon_cores", a.cores(a.daemon), "daemon_us_per_op", usPerOp(a.daemon, api.ops),
			"foreign_cores", a.cores(a.foreign()))
		foreign = max(foreign, a.cores(a.foreign()))
	} else {
		// With -url the appliance, if it runs here, is one of the others.
		apiAttrs = append(apiAttrs, "other_cores_incl_appliance", a.cores(a.foreign()))
	}
	log.Info("api phase cpu", apiAttrs...)
	log.Info("raw phase cpu", "mechanism", mech, "signatures", raw.ops,
		"cores", r.cores(r.kwbench), "foreign_cores", r.cores(r.foreign()), "us_per_op", usPerOp(r.kwbench, raw.ops))
	if foreign > foreignLoadLimit {
		log.Warn("other processes competed for the CPUs; the per-second figures are not reliable, the per-op CPU costs still are",
			"mechanism", mech, "foreign_cores", foreign)
	}
}

// usPerOp is the CPU time per operation in microseconds, two decimals.
func usPerOp(cpu time.Duration, ops int) float64 {
	if ops == 0 {
		return 0
	}
	return round2(float64(cpu.Nanoseconds()) / 1e3 / float64(ops))
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }
