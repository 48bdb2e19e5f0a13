package cluster

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRestartWithPeerListener restarts a lone member the way an appliance
// starts clustering: the store handed out before serves again afterwards,
// refusing calls only as unavailable in between, and watches opened before
// end.
func TestRestartWithPeerListener(t *testing.T) {
	t.Parallel()
	m := startMember(t, "")
	kv := m.KV()
	rev := mustTxn(t, kv, Put("/r", []byte("1")))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	before := kv.Watch(ctx, "/")

	calls := hammer(t, kv)
	cfg := m.Config()
	cfg.PeerListen = freeAddr(t)
	begin := time.Now()
	if err := m.Restart(ctx, cfg); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	t.Logf("Restart took %v", time.Since(begin))
	if n, errs := calls(); len(errs) > 0 {
		t.Errorf("Get during Restart: %d of %d calls failed with other errors than ErrUnavailable: %v", len(errs), n, errs)
	}

	if m.KV() != kv {
		t.Error("KV after Restart: got another store, want the same")
	}
	if got, err := kv.Get(ctx, "/r"); err != nil || string(got.Value) != "1" || got.ModRevision != rev {
		t.Errorf("Get after Restart: got %q at %d, %v, want %q at %d", got.Value, got.ModRevision, err, "1", rev)
	}
	if ev, ok := receive(t, before); ok {
		t.Errorf("watch opened before Restart: got %+v, want the channel closed", ev)
	}
	after := kv.Watch(ctx, "/")
	mustTxn(t, kv, Put("/r", []byte("2")))
	if ev, ok := receive(t, after); !ok || ev.Key != "/r" || string(ev.Value) != "2" {
		t.Errorf("watch opened after Restart: got %+v, %v, want the put of /r", ev, ok)
	}
	if got := m.Config(); got.PeerListen != cfg.PeerListen || !m.Ready() {
		t.Errorf("after Restart: got PeerListen %q and Ready %v, want %q and true", got.PeerListen, m.Ready(), cfg.PeerListen)
	}
	members, err := m.Members(ctx)
	if err != nil || len(members) != 1 || !slices.Equal(members[0].PeerURLs, []string{"http://" + cfg.PeerListen}) {
		t.Errorf("Members after Restart: got %+v, %v, want one member at http://%s", members, err, cfg.PeerListen)
	}
}

// hammer calls kv.Get in a loop until the returned function is called,
// which reports how many calls were made and the errors that were not
// ErrUnavailable.
func hammer(t *testing.T, kv KV) func() (int, []error) {
	var stop atomic.Bool
	var wg sync.WaitGroup
	var n int
	var unexpected []error
	wg.Go(func() {
		for !stop.Load() {
			n++
			if _, err := kv.Get(context.Background(), "/r"); err != nil && !errors.Is(err, ErrUnavailable) {
				unexpected = append(unexpected, err)
			}
		}
	})
	t.Cleanup(func() { stop.Store(true); wg.Wait() })
	return func() (int, []error) {
		stop.Store(true)
		wg.Wait()
		return n, unexpected
	}
}

// TestStopThenRestart: a stopped member's store refuses as unavailable, and
// Restart with the member's own configuration brings it back with its data.
func TestStopThenRestart(t *testing.T) {
	t.Parallel()
	m := startMember(t, "")
	mustTxn(t, m.KV(), Put("/k", []byte("v")))
	for i := range 2 {
		if err := m.Stop(); err != nil {
			t.Fatalf("Stop #%d: %v", i+1, err)
		}
	}
	if _, err := m.KV().Get(context.Background(), "/k"); !errors.Is(err, ErrUnavailable) || m.Ready() {
		t.Errorf("after Stop: got Get error %v and Ready %v, want ErrUnavailable and false", err, m.Ready())
	}
	if err := m.Restart(context.Background(), m.Config()); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if got, err := m.KV().Get(context.Background(), "/k"); err != nil || string(got.Value) != "v" {
		t.Errorf("Get after Restart: got %q, %v, want %q", got.Value, err, "v")
	}
}

// TestRestartRefusesBeforeStopping checks configurations Restart must refuse
// while the member keeps serving.
func TestRestartRefusesBeforeStopping(t *testing.T) {
	t.Parallel()
	m := startMember(t, "")
	good := m.Config()
	peer := freeAddr(t)
	tests := []struct {
		name    string
		cfg     func(c Config) Config
		wantIs  error  // nil: any error
		wantErr string // the error must mention it
	}{
		{"invalid", func(c Config) Config { c.Name = "a=b"; return c }, nil, "invalid cluster member config"},
		{"join into its own data dir", func(c Config) Config {
			c.PeerListen, c.Join = peer, true
			c.InitialCluster = map[string][]string{c.Name: {"http://" + peer}, "other": {"http://127.0.0.1:9"}}
			return c
		}, ErrHasMemberData, "move"},
		{"force new cluster without member data", func(c Config) Config {
			c.DataDir, c.ForceNewCluster = t.TempDir(), true
			return c
		}, ErrNoMemberData, "no member to recover"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := m.Restart(context.Background(), tt.cfg(good))
			if err == nil || (tt.wantIs != nil && !errors.Is(err, tt.wantIs)) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error wrapping %v mentioning %q", err, tt.wantIs, tt.wantErr)
			}
			mustTxn(t, m.KV(), Put("/still", []byte("serving")))
			if got := m.Config(); got.DataDir != good.DataDir || got.Join || got.ForceNewCluster {
				t.Errorf("Config after refused Restart: got %+v, want the old one", got)
			}
		})
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Restart(context.Background(), good); err == nil {
		t.Error("Restart after Close: got nil, want an error")
	}
}

// TestRestartAfterFailures: a member whose Start failed, and one whose
// Restart failed after stopping it, both come back with Restart.
func TestRestartAfterFailures(t *testing.T) {
	t.Parallel()
	m := newMember(t, Config{DataDir: t.TempDir()})
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.Start(cancelled); err == nil {
		t.Fatal("Start with an ended context: got nil, want an error")
	}
	good := m.Config()
	if err := m.Restart(context.Background(), good); err != nil {
		t.Fatalf("Restart after a failed Start: %v", err)
	}
	mustTxn(t, m.KV(), Put("/k", []byte("v")))

	busy := startMember(t, "") // holds the lock of its data dir
	bad := good
	bad.DataDir = busy.DataDir()
	if err := m.Restart(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("Restart into a data dir in use: got %v, want an error saying so", err)
	}
	if _, err := m.KV().Get(context.Background(), "/k"); !errors.Is(err, ErrUnavailable) || m.Ready() {
		t.Errorf("after a failed Restart: got Get error %v and Ready %v, want ErrUnavailable and false", err, m.Ready())
	}
	if got := m.Config().DataDir; got != bad.DataDir {
		t.Errorf("Config after a failed Restart: got data dir %q, want the attempted %q", got, bad.DataDir)
	}
	if err := m.Restart(context.Background(), good); err != nil {
		t.Fatalf("Restart after a failed Restart: %v", err)
	}
	if got, err := m.KV().Get(context.Background(), "/k"); err != nil || string(got.Value) != "v" {
		t.Errorf("Get after putting the old config back: got %q, %v, want %q", got.Value, err, "v")
	}
	mustTxn(t, busy.KV(), Put("/busy", []byte("undisturbed")))
}

// TestConfigIsACopy: changing what Config returns, or what was passed to
// New, must not change the member.
func TestConfigIsACopy(t *testing.T) {
	ic := map[string][]string{"a": {"http://127.0.0.1:9"}, "n": {"http://127.0.0.1:2380"}}
	cfg := Config{Name: "n", DataDir: t.TempDir(), PeerListen: "127.0.0.1:2380", Join: true, InitialCluster: ic}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ic["a"][0] = "changed by the caller"
	got := m.Config()
	got.InitialCluster["n"][0] = "changed through Config"
	if again := m.Config(); again.InitialCluster["a"][0] != "http://127.0.0.1:9" || again.InitialCluster["n"][0] != "http://127.0.0.1:2380" {
		t.Errorf("Config: got initial cluster %v, want the one passed to New", again.InitialCluster)
	}
}

// freeAddr returns a 127.0.0.1 address with a port that was free a moment
// ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestStoreFollowsServer: when etcd stops by itself (as a removed member's
// does) the store fails at once and the member is no longer Ready; a stop
// the Member makes is not taken for one etcd made by itself.
func TestStoreFollowsServer(t *testing.T) {
	t.Parallel()
	m := startMember(t, "")
	w := m.watch.Load()
	m.etcd.Server.HardStop()
	if !w.awaitStoppedItself(context.Background(), startTimeout) {
		t.Error("after etcd stopped by itself: got false, want true")
	}
	begin := time.Now()
	if _, err := m.KV().Get(context.Background(), "/k"); !errors.Is(err, ErrUnavailable) || time.Since(begin) > time.Second || m.Ready() {
		t.Errorf("after etcd stopped by itself: got Get error %v after %v and Ready %v, want ErrUnavailable at once and false",
			err, time.Since(begin), m.Ready())
	}

	other := startMember(t, "")
	w = other.watch.Load()
	if err := other.Stop(); err != nil {
		t.Fatal(err)
	}
	if w.awaitStoppedItself(context.Background(), startTimeout) {
		t.Error("after Stop: got true, want false")
	}
}
