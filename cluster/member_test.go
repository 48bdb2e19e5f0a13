package cluster

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	long := "/" + strings.Repeat("d", 100)
	tests := []struct {
		name    string
		cfg     Config
		wantErr []string // substrings the error must contain; none means valid
	}{
		{"solo", Config{Name: "node-1", DataDir: dir}, nil},
		{"peer listen", Config{Name: "n.2_b", DataDir: dir, PeerListen: "10.0.0.2:2380"}, nil},
		{"ipv6 peer listen", Config{Name: "n", DataDir: dir, PeerListen: "[fd00::2]:2380"}, nil},
		{"empty", Config{}, []string{"name", "data dir"}},
		{"name with separator", Config{Name: "a=b", DataDir: dir}, []string{`name "a=b"`}},
		{"socket path too long", Config{Name: "n", DataDir: long}, []string{"longer than"}},
		{"everything wrong", Config{Name: ",", PeerListen: "0.0.0.0:0"},
			[]string{"name", "data dir", "wildcard", "port must be"}},
		{"peer host name", Config{Name: "n", DataDir: dir, PeerListen: "node1:2380"}, []string{"IP address"}},
		{"peer without port", Config{Name: "n", DataDir: dir, PeerListen: "10.0.0.2"}, []string{"missing port"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got no error, want one mentioning %q", tt.wantErr)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("got error %q, want it to mention %q", err, want)
				}
			}
		})
	}
}

func TestNewStartsNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	m, err := New(Config{Name: "n", DataDir: dir})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data dir after New: got stat error %v, want not exist", err)
	}
	if got := m.DataDir(); got != dir {
		t.Errorf("DataDir: got %q, want %q", got, dir)
	}
	if _, err := m.KV().Get(context.Background(), "/k"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Get before Start: got %v, want ErrUnavailable", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("Close before Start: %v", err)
	}
}

func TestStartMakesDataDirPrivate(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	startMember(t, dir)
	checks := []struct {
		path string
		want os.FileMode
	}{
		{dir, os.ModeDir | 0o700},
		{filepath.Join(dir, clientSocketName), os.ModeSocket | 0o600},
	}
	for _, c := range checks {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatalf("stat: %v", err)
		}
		if got := fi.Mode() & (os.ModeType | os.ModePerm); got != c.want {
			t.Errorf("mode of %s: got %v, want %v", c.path, got, c.want)
		}
	}
}

// Not parallel: it counts this process's TCP listeners.
func TestSoloMemberOpensNoTCPPort(t *testing.T) {
	before := tcpListeners(t)
	startMember(t, "")
	if after := tcpListeners(t); len(after) != len(before) {
		t.Errorf("TCP listeners: got %v after Start, want %v as before", after, before)
	}
}

// Not parallel: it counts this process's TCP listeners.
func TestPeerListen(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	m := newMember(t, Config{DataDir: t.TempDir(), PeerListen: addr})
	mustStart(t, m)
	if got := tcpListeners(t); len(got) != 1 || !strings.HasSuffix(got[0], hexPort(port)) {
		t.Errorf("TCP listeners: got %v, want only the peer port %d", got, port)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := tcpListeners(t); len(got) != 0 {
		t.Errorf("TCP listeners after Close: got %v, want none", got)
	}
}

func TestRestartKeepsData(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := startMember(t, dir)
	rev := mustTxn(t, first.KV(), Put("/keep", []byte("v1")))
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	second := startMember(t, dir)
	got, err := second.KV().Get(context.Background(), "/keep")
	if err != nil {
		t.Fatalf("Get after restart: %v", err)
	}
	if string(got.Value) != "v1" || got.ModRevision != rev {
		t.Errorf("after restart: got %q at %d, want %q at %d", got.Value, got.ModRevision, "v1", rev)
	}
}

func TestCloseIsIdempotentAndFinal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := startMember(t, dir)
	for i := range 2 {
		if err := m.Close(); err != nil {
			t.Fatalf("Close #%d: got %v, want nil", i+1, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, clientSocketName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket after Close: got stat error %v, want not exist", err)
	}
	if err := m.Start(context.Background()); err == nil {
		t.Error("Start after Close: got nil, want an error")
	}
	// etcd reports every listener it closes as an error; none of that is a
	// problem worth diagnosing.
	if got := m.RecentLogs(); len(got) != 0 {
		t.Errorf("RecentLogs after a clean run: got %v, want none", got)
	}
}

func TestStartTwice(t *testing.T) {
	t.Parallel()
	m := startMember(t, "")
	if err := m.Start(context.Background()); err == nil {
		t.Error("second Start: got nil, want an error")
	}
	mustTxn(t, m.KV(), Put("/still", []byte("serving")))
}

func TestParallelMembersDoNotClash(t *testing.T) {
	t.Parallel()
	const n = 3
	members := make([]*Member, n)
	var wg sync.WaitGroup
	for i := range n {
		// Same name on purpose: only the data dir tells them apart.
		members[i] = newMember(t, Config{DataDir: t.TempDir()})
		wg.Go(func() {
			if err := members[i].Start(context.Background()); err != nil {
				t.Errorf("Start member %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for i, m := range members {
		mustTxn(t, m.KV(), Put("/who", []byte(strconv.Itoa(i))))
	}
	for i, m := range members {
		got, err := m.KV().Get(context.Background(), "/who")
		if err != nil || string(got.Value) != strconv.Itoa(i) {
			t.Errorf("member %d: got %q, %v, want %q", i, got.Value, err, strconv.Itoa(i))
		}
	}
}

// Not parallel: it counts goroutines.
func TestStartFailsCleanly(t *testing.T) {
	startMember(t, "").Close() // start etcd's process-wide goroutines first
	running := startMember(t, "")

	tests := []struct {
		name  string
		setup func(t *testing.T) (dir string, ctx context.Context)
	}{
		{"data dir is a file", func(t *testing.T) (string, context.Context) {
			path := filepath.Join(t.TempDir(), "file")
			writeFile(t, path)
			return path, context.Background()
		}},
		{"member dir is a file", func(t *testing.T) (string, context.Context) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "member"))
			return dir, context.Background()
		}},
		{"context ends before etcd serves", func(t *testing.T) (string, context.Context) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return t.TempDir(), ctx
		}},
		{"data dir in use", func(t *testing.T) (string, context.Context) {
			return running.DataDir(), context.Background()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, ctx := tt.setup(t)
			// A small allowance for the running member's own coming and
			// going; a leaked etcd server leaves dozens.
			limit := runtime.NumGoroutine() + 2
			m, err := New(Config{Name: "n", DataDir: dir, Logger: testLogger(t)})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if err := m.Start(ctx); err == nil {
				m.Close()
				t.Fatal("Start: got nil, want an error")
			} else {
				t.Logf("Start: %v", err)
			}
			if _, err := m.KV().Get(context.Background(), "/k"); !errors.Is(err, ErrUnavailable) {
				t.Errorf("Get after failed Start: got %v, want ErrUnavailable", err)
			}
			if dir != running.DataDir() {
				checkReleased(t, dir)
			}
			waitGoroutines(t, limit)
		})
	}
	// The refused second member must not have disturbed the running one.
	mustTxn(t, running.KV(), Put("/after", []byte("ok")))
}

// checkReleased fails t if dir still holds a client socket or a locked lock
// file.
func checkReleased(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Lstat(filepath.Join(dir, clientSocketName)); !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("client socket: got stat error %v, want it gone", err)
	}
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		return // nothing could have been locked
	}
	lock, err := lockDataDir(dir)
	if err != nil {
		t.Errorf("lock data dir after failed Start: %v", err)
		return
	}
	lock.Close()
}

func writeFile(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("not a dir"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestStartTimeIsShort(t *testing.T) {
	t.Parallel()
	m := newMember(t, Config{DataDir: t.TempDir()})
	begin := time.Now()
	mustStart(t, m)
	// Generous for a loaded 2-core CI machine; typical is 30-250 ms.
	if took := time.Since(begin); took > 3*time.Second {
		t.Errorf("Start took %v, want well under 3s", took)
	}
}
