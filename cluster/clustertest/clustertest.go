// Package clustertest starts real embedded etcd members for the tests of
// packages that use the cluster store, so that they run against the same KV
// the appliance uses rather than a fake: a single member (Start), or a
// cluster of members on 127.0.0.1 whose peers use mutual TLS with
// certificates from a throwaway CA (StartCluster, NewCA).
package clustertest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/keywarden/keywarden/cluster"
)

// startTimeout bounds Start; a healthy solo member needs well under a second,
// but a loaded CI machine may need more.
const startTimeout = 20 * time.Second

// Start starts a single-member cluster in a fresh temporary directory and
// returns its store. The member is closed when the test ends; etcd's warnings
// go to the test log.
func Start(t testing.TB) cluster.KV {
	t.Helper()
	m := NewMember(t, cluster.Config{Name: "node-1", DataDir: t.TempDir()})
	StartMember(t, m)
	return m.KV()
}

// NewMember returns an unstarted member for cfg that is closed when the test
// ends. A nil cfg.Logger sends etcd's warnings to the test log.
func NewMember(t testing.TB, cfg cluster.Config) *cluster.Member {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	m, err := cluster.New(cfg)
	if err != nil {
		t.Fatalf("new cluster member: %v", err)
	}
	// Registered before Start so that a Start failing half-way still cleans up;
	// Close accepts members that never started.
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("close cluster member %q: %v", cfg.Name, err)
		}
	})
	return m
}

// StartMember starts m, failing the test if it does not serve within a
// bounded time.
func StartMember(t testing.TB, m *cluster.Member) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := m.Start(ctx); err != nil {
		t.Fatalf("start cluster member: %v", err)
	}
}
