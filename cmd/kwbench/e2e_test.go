package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keywarden/keywarden/appliance/client"
)

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// daemonBinary builds keywardend once per test binary. The tests that need
// it are skipped with -short.
func daemonBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the real keywardend; skipped with -short")
	}
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "kwbench-test-"); buildErr != nil {
			return
		}
		buildBin = filepath.Join(buildDir, "keywardend")
		out, err := exec.Command("go", "build", "-o", buildBin, "../keywardend").CombinedOutput()
		if err != nil {
			buildErr = errors.New("go build keywardend: " + err.Error() + ": " + string(out))
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

func TestRunEndToEnd(t *testing.T) {
	bin := daemonBinary(t)
	var stdout, stderr bytes.Buffer
	args := []string{"-daemon", bin, "-d", "300ms", "-c", "2"}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, args, &stdout, &stderr, func(string) string { return "" }); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	names := []string{"p256", "ed25519", "rsa2048"}
	if len(lines) != len(names) {
		t.Fatalf("stdout has %d lines, want %d:\n%s", len(lines), len(names), stdout.String())
	}
	for i, name := range names {
		re := regexp.MustCompile(`^bench sign ` + name + ` api_ops_per_s=([1-9]\d*) raw_ops_per_s=([1-9]\d*) ratio=\d+\.\d\d p50_ms=\d+\.\d{3} p99_ms=\d+\.\d{3}$`)
		if !re.MatchString(lines[i]) {
			t.Errorf("line %d = %q, want the %s result with non-zero rates", i+1, lines[i], name)
		}
	}
	if !strings.Contains(stderr.String(), "api phase cpu") {
		t.Errorf("stderr lacks the CPU accounting:\n%s", stderr.String())
	}
}

// runAPI runs the API phase of p256 alone for 200 ms with 2 connections.
func runAPI(ctx context.Context, lc *loadClient, key benchKey) (apiRun, error) {
	b, err := newAPIBench(ctx, lc, mechanismNamed("p256"), key, 2)
	if err != nil {
		return apiRun{}, err
	}
	defer b.close()
	noCPU := func() func() cpuDelta { return func() cpuDelta { return cpuDelta{} } }
	if err := b.slice(200*time.Millisecond, noCPU); err != nil {
		return apiRun{}, err
	}
	return b.finish()
}

// TestBrokenAppliance checks that what a broken or misconfigured appliance
// answers cannot pass for a fast one.
func TestBrokenAppliance(t *testing.T) {
	bin := daemonBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := config{daemon: bin, conns: 2, duration: 200 * time.Millisecond, mechs: []*mechanism{mechanismNamed("p256")}}
	tgt, err := prepare(ctx, cfg, log)
	if err != nil {
		t.Fatalf("prepare: %v", err)
	}
	defer tgt.close(log)
	good := tgt.keys["p256"]
	_, otherPub, err := mechanismNamed("p256").local()
	if err != nil {
		t.Fatal(err)
	}
	badLoad, err := newLoadClient(client.Options{URL: tgt.daemon.url(), Insecure: true}, tgt.userID, "wrong passphrase", 2)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		lc      *loadClient
		key     benchKey
		wantErr string
	}{
		{"signatures from another key", tgt.load, benchKey{id: good.id, pub: otherPub}, errBadSignature.Error()},
		{"unknown key", tgt.load, benchKey{id: "nosuchkey", pub: good.pub}, "404"},
		{"wrong passphrase", badLoad, good, "401"},
		{"healthy", tgt.load, good, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := runAPI(ctx, tt.lc, tt.key)
			if tt.wantErr == "" {
				if err != nil || got.ops == 0 || got.verified == 0 {
					t.Fatalf("runAPI = %d ops, %d verified, %v; want some of both and nil", got.ops, got.verified, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("runAPI error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	dir := tgt.daemon.dir
	tgt.close(log)
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("daemon directory %s after close: stat error %v, want not exist", dir, err)
	}
}
