package chaos

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runTimeout bounds every Run in these tests, far beyond their Durations.
const runTimeout = 30 * time.Second

// quickConfig is a short, busy run against nodes: few keys so operations
// collide, frequent short outages.
func quickConfig(t *testing.T, nodes []Node, maxDown int) Config {
	return Config{
		Nodes: nodes, Clients: 4, Duration: 400 * time.Millisecond, Keys: 4,
		KillEvery: 30 * time.Millisecond, DownFor: 40 * time.Millisecond, MaxDown: maxDown,
		OpTimeout: time.Second, Seed: 1, Log: t.Logf,
	}
}

// runFor runs cfg under runTimeout.
func runFor(t *testing.T, cfg Config) (*Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	return Run(ctx, cfg)
}

// checkOrVisualize checks res and, on a violation, leaves the visualisation
// where the log says, as the e2e test will.
func checkOrVisualize(t *testing.T, res *Result) bool {
	t.Helper()
	ok, info, err := Check(res.History.Operations(), runTimeout)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if !ok {
		path := filepath.Join(t.TempDir(), "history.html")
		if err := Visualize(path, info, res.History.Annotations()); err != nil {
			t.Fatalf("Visualize: %v", err)
		}
		t.Logf("visualisation: %s", path)
	}
	return ok
}

func TestRunCorrectClusterPasses(t *testing.T) {
	for _, tt := range []struct {
		nodes, maxDown int
		horizon        time.Duration
	}{{3, 1, 0}, {5, 2, time.Millisecond}} {
		t.Run(fmt.Sprintf("%d nodes %d down horizon %v", tt.nodes, tt.maxDown, tt.horizon), func(t *testing.T) {
			fakes, tracker := fakeCluster(tt.nodes, true, nil)
			cfg := quickConfig(t, asNodes(fakes), tt.maxDown)
			cfg.UnknownHorizon = tt.horizon // true of the fake, see TestRunDetectsWritesLostOnKill
			res, err := runFor(t, cfg)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if !checkOrVisualize(t, res) {
				t.Errorf("a single shared map is not linearizable: %v", res)
			}
			findings, err := CheckLostWrites(res.History.Operations(), finalState(fakes))
			if err != nil || len(findings) != 0 {
				t.Errorf("CheckLostWrites = %v, %v; want none", findings, err)
			}
			if res.Kills == 0 || res.Restarts != res.Kills {
				t.Errorf("kills %d, restarts %d; want some, all restarted", res.Kills, res.Restarts)
			}
			if got := tracker.maxDown(); got > tt.maxDown {
				t.Errorf("%d nodes down at once, want at most %d", got, tt.maxDown)
			}
			assertBusy(t, res)
		})
	}
}

// assertBusy makes sure the run exercised every operation and outcome that
// a correct cluster under a nemesis produces, so a pass means something.
func assertBusy(t *testing.T, res *Result) {
	t.Helper()
	total := 0
	for k := range numOpKinds {
		for o := range numOutcomes {
			total += res.Count(k, o)
		}
	}
	if n := len(res.History.Operations()); total != n {
		t.Errorf("counts add up to %d, history has %d operations", total, n)
	}
	for _, c := range []struct {
		k OpKind
		o Outcome
	}{{Create, OK}, {Create, Exists}, {Delete, OK}, {Delete, NotFound}, {Use, OK}, {Use, NotFound}} {
		if res.Count(c.k, c.o) == 0 {
			t.Errorf("no %v -> %v in %v", c.k, c.o, res)
		}
	}
	if res.Count(Create, Unknown)+res.Count(Delete, Unknown)+res.Count(Use, Unknown) == 0 {
		t.Errorf("no unknown outcomes although nodes were killed: %v", res)
	}
}

func TestRunDetectsMissingReplication(t *testing.T) {
	fakes, _ := fakeCluster(3, false, nil)
	cfg := quickConfig(t, asNodes(fakes), 0)
	cfg.Duration = 200 * time.Millisecond
	res, err := runFor(t, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if checkOrVisualize(t, res) {
		t.Errorf("per-node maps without replication passed as linearizable: %v", res)
	}
}

func TestRunDetectsWritesLostOnKill(t *testing.T) {
	fakes, _ := fakeCluster(3, true, func(n *fakeNode) { n.lossy = true })
	cfg := quickConfig(t, asNodes(fakes), 1)
	// A fake request takes effect before it returns or never, so any
	// horizon is true of it; without one, Unknown deletes (the fake has
	// them) could explain the losses.
	cfg.UnknownHorizon = time.Millisecond
	res, err := runFor(t, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	linearizable := checkOrVisualize(t, res)
	findings, err := CheckLostWrites(res.History.Operations(), finalState(fakes))
	if err != nil {
		t.Fatalf("CheckLostWrites: %v", err)
	}
	if linearizable && len(findings) == 0 {
		t.Errorf("a cluster that forgets writes on kill passed both checks: %v", res)
	}
}

func TestRunReportsNodeThatDoesNotComeBack(t *testing.T) {
	fakes, tracker := fakeCluster(3, true, func(n *fakeNode) { n.failRestart = true })
	res, err := runFor(t, quickConfig(t, asNodes(fakes), 1))
	if !errors.Is(err, errFake) || !strings.Contains(err.Error(), "restart node") {
		t.Fatalf("Run error = %v, want the failed restart", err)
	}
	if res == nil || res.Kills != 1 || res.Restarts != 0 {
		t.Fatalf("result %v, want one kill and no restart", res)
	}
	if got := tracker.maxDown(); got != 1 {
		t.Errorf("%d nodes down at once, want the dead one only", got)
	}
	if !checkOrVisualize(t, res) {
		t.Errorf("clients used the dead node or the history broke: %v", res)
	}
}

func TestRunEndsWhenCancelled(t *testing.T) {
	fakes, _ := fakeCluster(3, true, nil)
	cfg := quickConfig(t, asNodes(fakes), 1)
	cfg.Duration = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("Run took %v after its context ended at 100ms", elapsed)
	}
	if len(res.History.Operations()) == 0 {
		t.Errorf("no operations recorded")
	}
}

func TestConfigValidate(t *testing.T) {
	fakes, _ := fakeCluster(3, true, nil)
	good := Config{Nodes: asNodes(fakes), Clients: 1, Duration: time.Second, Keys: 1, MaxDown: 2}
	tests := []struct {
		name   string
		tweak  func(*Config)
		nProbs int
	}{
		{"good", func(*Config) {}, 0},
		{"no nodes", func(c *Config) { c.Nodes, c.MaxDown = nil, 0 }, 1},
		{"nil node", func(c *Config) { c.Nodes = append([]Node{nil}, c.Nodes...) }, 1},
		{"max down leaves no node", func(c *Config) { c.MaxDown = 3 }, 1},
		{"everything wrong", func(c *Config) {
			*c = Config{MaxDown: -1, KillEvery: -1, DownFor: -1, OpTimeout: -1, RestartTimeout: -1, UnknownHorizon: -1}
		}, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.tweak(&cfg)
			err := cfg.Validate()
			var probs []string
			if err != nil {
				probs = strings.Split(err.Error(), "\n")
			}
			if len(probs) != tt.nProbs || (err != nil && !errors.Is(err, ErrInvalidConfig)) {
				t.Errorf("Validate = %v, want %d problems wrapping %v", err, tt.nProbs, ErrInvalidConfig)
			}
			if tt.nProbs == 0 {
				return
			}
			if _, err := Run(context.Background(), cfg); !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("Run error = %v, want %v", err, ErrInvalidConfig)
			}
		})
	}
}
