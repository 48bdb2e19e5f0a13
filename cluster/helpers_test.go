package cluster

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// startTimeout bounds Start in tests; a healthy solo member needs well under
// a second.
const startTimeout = 20 * time.Second

// testLogger sends a member's etcd warnings to the test log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// newMember returns an unstarted member in dir that is closed when the test
// ends.
func newMember(t testing.TB, cfg Config) *Member {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "node-1"
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return m
}

// startMember starts a solo member in dir (a new temp dir when empty), logs
// how long Start took and closes the member when the test ends.
func startMember(t testing.TB, dir string) *Member {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	m := newMember(t, Config{DataDir: dir})
	mustStart(t, m)
	return m
}

func mustStart(t testing.TB, m *Member) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	begin := time.Now()
	if err := m.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("Start took %v", time.Since(begin))
}

// mustTxn applies ops unconditionally and returns the revision.
func mustTxn(t testing.TB, kv KV, ops ...Op) int64 {
	t.Helper()
	rev, err := kv.Txn(context.Background(), nil, ops)
	if err != nil {
		t.Fatalf("Txn: %v", err)
	}
	return rev
}

// tcpListeners returns the local addresses of the TCP sockets this process is
// listening on, by matching /proc/net/tcp{,6} inodes against its own fds.
func tcpListeners(t *testing.T) []string {
	t.Helper()
	own := map[string]bool{}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("list fds: %v", err)
	}
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(target, "socket:[") {
			own[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] = true
		}
	}
	var addrs []string
	for _, table := range []string{"/proc/self/net/tcp", "/proc/self/net/tcp6"} {
		addrs = append(addrs, listenersIn(t, table, own)...)
	}
	return addrs
}

// listenersIn returns the local address of every listening socket in a
// /proc/net/tcp table whose inode is in own.
func listenersIn(t *testing.T, table string, own map[string]bool) []string {
	f, err := os.Open(table)
	if err != nil {
		t.Fatalf("open %s: %v", table, err)
	}
	defer f.Close()
	var addrs []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
		f := strings.Fields(sc.Text())
		const listen = "0A"
		if len(f) > 9 && f[3] == listen && own[f[9]] {
			addrs = append(addrs, f[1])
		}
	}
	return addrs
}

// waitGoroutines waits until no more than limit goroutines run, and fails the
// test with the excess stacks if that does not happen within a few seconds.
func waitGoroutines(t *testing.T, limit int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > limit {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("got %d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), limit, buf[:n])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// hexPort formats a port as /proc/net/tcp shows it.
func hexPort(port int) string { return fmt.Sprintf(":%04X", port) }
