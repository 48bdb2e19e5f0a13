// Command kwbench measures how fast a Keywarden appliance signs over its REST
// API, compared with signing in-process with Go's crypto on the same machine.
//
// It starts its own keywardend (or uses a running one given by -url),
// provisions it, creates an Operator and one P-256, Ed25519 and RSA-2048 key,
// then for each mechanism drives the sign endpoint with -c keep-alive HTTPS
// connections for -d, verifies a sample of the signatures against the key's
// public key, and signs in-process for the same duration and concurrency;
// the two phases alternate every second so that both see the same machine.
// stdout gets exactly one line per mechanism:
//
//	bench sign p256 api_ops_per_s=N raw_ops_per_s=N ratio=R p50_ms=X p99_ms=Y
//
// Progress and CPU accounting go to stderr. Any error answer, or any
// signature that does not verify, makes kwbench exit non-zero.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kwbench:", err)
		os.Exit(1)
	}
}

// run is main without the process: it parses args, runs every benchmark and
// writes the result lines to stdout.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	cfg, err := parseFlags(args, stderr, getenv)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	t, err := prepare(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer t.close(log)
	prof := newProfiler(cfg.profileDir, log)
	for _, m := range cfg.mechs {
		res, err := benchMechanism(ctx, cfg, t, m, prof, log)
		if err != nil {
			return fmt.Errorf("bench %s: %w", m.name, err)
		}
		if _, err := fmt.Fprintln(stdout, res.line()); err != nil {
			return fmt.Errorf("write result: %w", err)
		}
	}
	return nil
}

// sliceLength is how long the API and the in-process phase run before
// handing over to each other. Alternating in short slices exposes both to
// the same conditions: on a shared or virtual machine the speed of the
// cores drifts by 10-20 % over tens of seconds, which two back-to-back
// phases would turn into an error of the ratio.
const sliceLength = time.Second

// benchMechanism measures m over the API and in-process, alternating
// between the two every sliceLength until each had cfg.duration.
func benchMechanism(ctx context.Context, cfg config, t *target, m *mechanism, prof *profiler, log *slog.Logger) (result, error) {
	key := t.keys[m.name]
	log.Info("measuring", "mechanism", m.name, "key", key.id, "conns", cfg.conns, "duration", cfg.duration, "slice", sliceLength)
	api, err := newAPIBench(ctx, t.load, m, key, cfg.conns)
	if err != nil {
		return result{}, err
	}
	defer api.close()
	raw, err := newRawBench(ctx, m, cfg.conns)
	if err != nil {
		return result{}, err
	}
	stopProfile := prof.start(m.name, t.daemonPID())
	err = alternate(api, raw, cfg.duration, t.window())
	stopProfile()
	if err != nil {
		return result{}, err
	}
	apiRun, err := api.finish()
	if err != nil {
		return result{}, err
	}
	explain(log, m.name, apiRun, raw.run)
	return newResult(m.name, apiRun, raw.run), nil
}

// alternate runs api and raw in turns of sliceLength until each ran for d.
func alternate(api *apiBench, raw *rawBench, d time.Duration, open window) error {
	for left := d; left > 0; left -= sliceLength {
		s := min(left, sliceLength)
		if err := api.slice(s, open); err != nil {
			return err
		}
		if err := raw.slice(s, open); err != nil {
			return err
		}
	}
	return nil
}
