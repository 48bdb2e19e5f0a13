package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keywarden/keywarden/appliance/apptest"
	"github.com/keywarden/keywarden/appliance/client"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// benchWindow is how long each throughput phase runs.
const benchWindow = 10 * time.Second

// BenchmarkCluster prints the clustering figures of docs/PERFORMANCE.md
// (run it with -benchtime 1x; make bench does):
//
//	bench cluster-keygen nodes=3 api_ops_per_s=… etcd_put_ops_per_s=… ratio=… p99_ms=…
//	bench join keys=10000 seconds=…
//	bench failover seconds=…
func BenchmarkCluster(b *testing.B) {
	for range b.N {
		// Production logging: the tests' debug logs would be measured too.
		c := formCluster(b, 3, "--log-level", "info")
		benchJoin(b, c, 10000)
		benchKeygen(b, c)
		benchFailover(b, c)
	}
}

// genKey is the operation the cluster-keygen line measures: a P-256 key
// generated, sealed and committed by a quorum.
func genKey(ctx context.Context, admin *client.Client, id string) error {
	_, err := admin.GenerateKey(ctx, client.KeyGenerateRequest{ID: id, Type: "EC_P256", Mechanisms: []client.KeyMechanism{"ECDSA_Signature"}})
	return err
}

// benchKeygen compares replicated key generation through the API, spread
// over the three nodes, with raw etcd puts of the same value size on the
// same cluster, in the same run and with the same concurrency.
func benchKeygen(b *testing.B, c *testCluster) {
	const workers = 12
	admins := make([]*client.Client, len(c.nodes))
	for i, n := range c.nodes {
		admins[i] = n.admin(b)
	}
	var seq atomic.Int64
	apiRate, lat := measure(b, workers, func(ctx context.Context, w int) error {
		return genKey(ctx, admins[w%len(admins)], fmt.Sprintf("bench%d", seq.Add(1)))
	})

	// The raw baseline talks to node 1's member through its client socket
	// (the daemon's own path to the store) with values as large as a stored
	// key record.
	etcd, err := clientv3.New(clientv3.Config{Endpoints: []string{"unix://" + filepath.Join(c.nodes[0].DataDir, "etcd", "client.sock")}, DialTimeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer etcd.Close()
	resp, err := etcd.Get(context.Background(), "/kw/v1/keys/_root/bench"+fmt.Sprint(seq.Load()))
	if err != nil || len(resp.Kvs) != 1 {
		b.Fatalf("read a stored key record for its size: %v", err)
	}
	value := string(resp.Kvs[0].Value)
	etcdRate, _ := measure(b, workers, func(ctx context.Context, w int) error {
		_, err := etcd.Put(ctx, fmt.Sprintf("/bench/raw/%d", seq.Add(1)), value)
		return err
	})
	if _, err := etcd.Delete(context.Background(), "/bench/", clientv3.WithPrefix()); err != nil {
		b.Fatal(err)
	}
	fmt.Printf("bench cluster-keygen nodes=%d api_ops_per_s=%.0f etcd_put_ops_per_s=%.0f ratio=%.2f p99_ms=%.1f\n",
		len(c.nodes), apiRate, etcdRate, apiRate/etcdRate, float64(lat)/float64(time.Millisecond))
}

// measure runs op from workers goroutines for benchWindow and returns the
// completed operations per second and the 99th percentile latency.
func measure(b *testing.B, workers int, op func(ctx context.Context, worker int) error) (float64, time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), benchWindow)
	defer cancel()
	var mu sync.Mutex
	var lats []time.Duration
	var failed atomic.Int64
	var wg sync.WaitGroup
	begin := time.Now()
	for w := range workers {
		wg.Go(func() {
			var mine []time.Duration
			for ctx.Err() == nil {
				t0 := time.Now()
				err := op(context.Background(), w)
				if err != nil {
					failed.Add(1)
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(begin)
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d operations failed during the measurement", n)
	}
	slices.Sort(lats)
	return float64(len(lats)) / elapsed.Seconds(), lats[len(lats)*99/100]
}

// benchJoin fills the cluster to keys keys, then times a new node's join:
// from POST /cluster/join until it answers, promoted and caught up.
func benchJoin(b *testing.B, c *testCluster, keys int) {
	var have atomic.Int64
	ids, err := c.nodes[0].admin(b).Keys(apptest.Context(b), client.KeyListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	have.Store(int64(len(ids)))
	var wg sync.WaitGroup
	var seq atomic.Int64
	for w := range 16 {
		admin := c.nodes[w%len(c.nodes)].admin(b)
		wg.Go(func() {
			for have.Add(1) <= int64(keys) {
				if err := genKey(context.Background(), admin, fmt.Sprintf("fill%d", seq.Add(1))); err != nil {
					b.Errorf("fill: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	j := startNode(b, c.ca, "joiner-Unlock-bench", c.args...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	added, err := c.nodes[0].admin(b).AddClusterMember(ctx, []string{j.peerURL()})
	if err != nil {
		b.Fatal(err)
	}
	begin := time.Now()
	err = j.admin(b).JoinCluster(ctx, client.ClusterJoinRequest{Members: added.Members, JoinerKit: added.JoinerKit, BackupPassphrase: backupPass})
	took := time.Since(begin)
	if err != nil {
		b.Fatalf("join: %v", err)
	}
	fmt.Printf("bench join keys=%d seconds=%.2f\n", keys, took.Seconds())
	// The other figures are for three nodes: the joiner leaves again.
	for _, m := range added.Members {
		if m.Learner {
			if err := c.nodes[0].admin(b).RemoveClusterMember(ctx, m.ID); err != nil {
				b.Fatalf("remove the joined node: %v", err)
			}
		}
	}
	j.Kill()
}

// benchFailover kills the leader's appliance with SIGKILL and times until a
// write through another node is acknowledged.
func benchFailover(b *testing.B, c *testCluster) {
	st, err := c.nodes[0].admin(b).ClusterStatus(apptest.Context(b))
	if err != nil {
		b.Fatal(err)
	}
	var leader, other *node
	for _, n := range c.nodes {
		s, err := n.admin(b).ClusterStatus(apptest.Context(b))
		if err != nil {
			b.Fatal(err)
		}
		if s.Self == st.Leader {
			leader = n
		} else if other == nil {
			other = n
		}
	}
	if leader == nil || other == nil {
		b.Fatalf("leader %q not found among the nodes", st.Leader)
	}
	admin := other.admin(b)
	begin := time.Now()
	leader.Kill()
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := genKey(ctx, admin, fmt.Sprintf("failover%d", i))
		cancel()
		if err == nil {
			break
		}
		if time.Since(begin) > time.Minute {
			b.Fatalf("no write acknowledged within a minute of the leader's crash: %v", err)
		}
	}
	fmt.Printf("bench failover seconds=%.2f\n", time.Since(begin).Seconds())
}
