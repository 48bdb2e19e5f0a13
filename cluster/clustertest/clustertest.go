// Package clustertest starts real embedded etcd members for the tests of
// packages that use the cluster store, so that they run against the same KV
// the appliance uses rather than a fake.
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
	m, err := cluster.New(cluster.Config{
		Name:    "node-1",
		DataDir: t.TempDir(),
		Logger:  slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatalf("new cluster member: %v", err)
	}
	// Registered before Start so that a Start failing half-way still cleans up;
	// Close accepts members that never started.
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("close cluster member: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := m.Start(ctx); err != nil {
		t.Fatalf("start cluster member: %v", err)
	}
	return m.KV()
}
