package clustertest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/keywarden/keywarden/cluster"
	"github.com/keywarden/keywarden/cluster/clustertest"
)

func TestStartServesStore(t *testing.T) {
	kv := clustertest.Start(t)
	ctx := context.Background()
	if _, err := kv.Txn(ctx, nil, []cluster.Op{cluster.Put("/k", []byte("v"))}); err != nil {
		t.Fatalf("Txn: %v", err)
	}
	e, err := kv.Get(ctx, "/k")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if string(e.Value) != "v" {
		t.Errorf("got value %q, want %q", e.Value, "v")
	}
}

func TestStartIsolatesMembers(t *testing.T) {
	a, b := clustertest.Start(t), clustertest.Start(t)
	ctx := context.Background()
	if _, err := a.Txn(ctx, nil, []cluster.Op{cluster.Put("/k", []byte("v"))}); err != nil {
		t.Fatalf("Txn: %v", err)
	}
	if _, err := b.Get(ctx, "/k"); !errors.Is(err, cluster.ErrNotFound) {
		t.Errorf("got %v from the second member, want ErrNotFound", err)
	}
}

// TestStartClosesAtCleanup checks that the member stops when its test ends:
// a store used after that must refuse to serve.
func TestStartClosesAtCleanup(t *testing.T) {
	var kv cluster.KV
	t.Run("inner", func(t *testing.T) { kv = clustertest.Start(t) })
	_, err := kv.Get(context.Background(), "/k")
	if !errors.Is(err, cluster.ErrUnavailable) {
		t.Errorf("got %v after cleanup, want ErrUnavailable", err)
	}
}

func TestStartClusterReplicates(t *testing.T) {
	c := clustertest.StartCluster(t, 3)
	ctx := context.Background()
	if _, err := c.Members[0].KV().Txn(ctx, nil, []cluster.Op{cluster.Put("/k", []byte("v"))}); err != nil {
		t.Fatalf("Txn on node-1: %v", err)
	}
	e, err := c.Members[2].KV().Get(ctx, "/k")
	if err != nil || string(e.Value) != "v" {
		t.Errorf("Get on node-3: got %q, %v, want %q", e.Value, err, "v")
	}
}
