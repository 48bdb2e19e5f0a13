package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/keywarden/keywarden/cluster"
	"github.com/keywarden/keywarden/cluster/clustertest"
)

// recoverTimeout bounds waiting for a cluster to elect a leader or for a
// learner to catch up, on a loaded two-core machine.
const recoverTimeout = 30 * time.Second

// TestLosingAndRecoveringQuorum takes one three-member cluster through the
// loss of its leader, of its quorum and of two members for good, stopping
// and restarting the same Member values throughout, in this order:
//
//  1. the leader stops; a write and reads on a follower, issued at once,
//     succeed after the election without the caller retrying;
//  2. all stop; one restarts with StartWithoutQuorum and returns at once,
//     unavailable, then serves by itself once a second one restarts;
//  3. a write issued while its member knows no leader is retried until a
//     peer comes back;
//  4. the last member recovers the cluster with ForceNewCluster, stays a
//     cluster of one across a normal restart, and grows again through a
//     learner promoted by PromoteReadyLearners.
func TestLosingAndRecoveringQuorum(t *testing.T) {
	t.Parallel()
	c := clustertest.StartCluster(t, 3)
	leader := leaderOf(t, c.Members)
	var x, y *cluster.Member // the two that outlive the leader
	for _, m := range c.Members {
		switch {
		case m == leader:
		case x == nil:
			x = m
		default:
			y = m
		}
	}
	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"leader change", func(t *testing.T) { checkLeaderChange(t, leader, x, y) }},
		{"start without quorum", func(t *testing.T) { checkStartWithoutQuorum(t, x, y) }},
		{"write waits for a leader", func(t *testing.T) { checkWriteWaitsForLeader(t, x, y) }},
		{"force new cluster", func(t *testing.T) { checkForceNewCluster(t, x, y) }},
		{"promote ready learners", func(t *testing.T) { checkPromoteReadyLearners(t, x, c.CA) }},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.run) {
			return // each step starts where the last one left the cluster
		}
	}
}

// checkLeaderChange stops the leader and at once writes and reads through
// the followers: the store must ride out the election by itself. A write
// may come back ErrUnavailable when it reached the old leader just before it
// stopped (its outcome is then unknown, as documented on KV.Txn), and the
// caller writes again (writeSoon); any other error fails.
func checkLeaderChange(t *testing.T, leader, x, y *cluster.Member) {
	if err := leader.Stop(); err != nil {
		t.Fatalf("Stop the leader: %v", err)
	}
	begin := time.Now()
	writeSoon(t, x, "/after-leader-change")
	t.Logf("write after the leader stopped took %v", time.Since(begin))
	if got, err := y.KV().Get(ctxFor(t), "/after-leader-change"); err != nil || string(got.Value) != "x" {
		t.Errorf("Get on the other follower: got %q, %v, want %q", got.Value, err, "x")
	}
	if got, err := y.KV().List(ctxFor(t), "/after-"); err != nil || len(got) != 1 {
		t.Errorf("List on the other follower: got %d entries, %v, want 1", len(got), err)
	}
	var leaders int
	for _, m := range []*cluster.Member{x, y} {
		is, err := m.IsLeader(ctxFor(t))
		if err != nil {
			t.Fatalf("IsLeader: %v", err)
		}
		if is {
			leaders++
		}
	}
	if leaders != 1 {
		t.Errorf("got %d leaders among the two left, want 1", leaders)
	}
}

// checkStartWithoutQuorum stops x and y, restarts x alone without quorum,
// and then y, after which x must serve without anything else being done.
func checkStartWithoutQuorum(t *testing.T, x, y *cluster.Member) {
	stop(t, x, y)
	begin := time.Now()
	restart(t, x, func(c *cluster.Config) { c.StartWithoutQuorum = true })
	t.Logf("restart without quorum took %v", time.Since(begin))
	if x.Ready() {
		t.Error("Ready without quorum: got true, want false")
	}
	begin = time.Now()
	_, err := x.KV().Get(ctxFor(t), "/after-leader-change")
	if !errors.Is(err, cluster.ErrUnavailable) || time.Since(begin) > time.Second {
		t.Errorf("Get without quorum: got %v after %v, want ErrUnavailable at once", err, time.Since(begin))
	}
	if _, err := x.Status(ctxFor(t)); !errors.Is(err, cluster.ErrUnavailable) {
		t.Errorf("Status without quorum: got %v, want ErrUnavailable", err)
	}
	restart(t, y, func(c *cluster.Config) { c.StartWithoutQuorum = true })
	waitFor(t, "x to serve once y is back", func() error {
		_, err := x.KV().Get(ctxFor(t), "/after-leader-change")
		return err
	})
	if !x.Ready() {
		t.Error("Ready once the store serves: got false, want true")
	}
}

// checkWriteWaitsForLeader stops y and, once x knows no leader, writes on x
// and restarts y: the write must succeed once they have elected a leader,
// within the store's own bound.
func checkWriteWaitsForLeader(t *testing.T, x, y *cluster.Member) {
	stop(t, y)
	waitFor(t, "x to lose its leader", func() error {
		st, err := x.Status(ctxFor(t))
		if err == nil && st.Leader != 0 {
			return fmt.Errorf("x still follows %x", st.Leader)
		}
		return err
	})
	wrote, read := make(chan error, 1), make(chan error, 1)
	go func() {
		_, err := x.KV().Txn(context.Background(), nil, []cluster.Op{cluster.Put("/without-leader", []byte("x"))})
		wrote <- err
	}()
	go func() {
		_, err := x.KV().Get(context.Background(), "/after-leader-change")
		read <- err
	}()
	begin := time.Now()
	restart(t, y, nil)
	for what, ch := range map[string]chan error{"Txn": wrote, "Get": read} {
		if err := <-ch; err != nil {
			t.Errorf("%s issued without a leader: got %v, want success once y is back", what, err)
		}
	}
	t.Logf("calls issued without a leader returned %v after y restarted", time.Since(begin))
}

// checkForceNewCluster stops y, leaving x without quorum for good, and
// recovers the cluster on x with its data.
func checkForceNewCluster(t *testing.T, x, y *cluster.Member) {
	stop(t, y)
	// x's config still says StartWithoutQuorum, as an appliance's would:
	// a forced member is its own quorum, so Restart waits for it anyway.
	restart(t, x, func(c *cluster.Config) { c.ForceNewCluster = true })
	if !x.Ready() || x.Config().ForceNewCluster {
		t.Errorf("after force new cluster: got Ready %v, ForceNewCluster %v in Config, want true and false",
			x.Ready(), x.Config().ForceNewCluster)
	}
	checkAlone(t, x)
	restart(t, x, nil)
	checkAlone(t, x)
	if is, err := x.IsLeader(ctxFor(t)); err != nil || !is {
		t.Errorf("IsLeader of a cluster of one: got %v, %v, want true", is, err)
	}
}

// checkAlone checks that m is the only member, holds the data written
// before and takes writes.
func checkAlone(t *testing.T, m *cluster.Member) {
	t.Helper()
	members, err := m.Members(ctxFor(t))
	if err != nil || len(members) != 1 || members[0].ID != m.ID() {
		t.Errorf("Members: got %+v, %v, want only %x", members, err, m.ID())
	}
	for _, key := range []string{"/after-leader-change", "/without-leader"} {
		if got, err := m.KV().Get(ctxFor(t), key); err != nil || string(got.Value) != "x" {
			t.Errorf("Get %s written before: got %q, %v, want %q", key, got.Value, err, "x")
		}
	}
	put(t, m, "/alone", "x")
}

// checkPromoteReadyLearners registers a learner on x and checks that
// PromoteReadyLearners passes over it until it has started and caught up,
// and then promotes it.
func checkPromoteReadyLearners(t *testing.T, x *cluster.Member, ca *clustertest.CA) {
	ctx := ctxFor(t)
	addr := clustertest.PeerAddr(t)
	learner, members, err := x.AddLearner(ctx, []string{"https://" + addr})
	if err != nil {
		t.Fatalf("AddLearner: %v", err)
	}
	if got, err := x.PromoteReadyLearners(ctx); err != nil || len(got) != 0 {
		t.Errorf("PromoteReadyLearners before the learner started: got %x, %v, want none and no error", got, err)
	}
	initial, err := cluster.InitialClusterFor(members, learner.ID, "node-4")
	if err != nil {
		t.Fatal(err)
	}
	joiner := clustertest.NewMember(t, cluster.Config{
		Name: "node-4", DataDir: t.TempDir(), PeerListen: addr, PeerTLS: ca.PeerTLS(t, "127.0.0.1"),
		Join: true, InitialCluster: initial,
	})
	clustertest.StartMember(t, joiner)
	if got := joiner.Config(); got.Join || got.InitialCluster != nil {
		t.Errorf("Config after joining: got Join %v and initial cluster %v, want both cleared", got.Join, got.InitialCluster)
	}
	waitFor(t, "the learner to be promoted", func() error {
		got, err := x.PromoteReadyLearners(ctxFor(t))
		switch {
		case err != nil:
			return err
		case !slices.Equal(got, []uint64{learner.ID}):
			return fmt.Errorf("promoted %x, want %x", got, learner.ID)
		}
		return nil
	})
	if err := joiner.AwaitPromotion(ctx); err != nil {
		t.Fatal(err)
	}
	if is, err := joiner.IsLeader(ctx); err != nil || is {
		t.Errorf("IsLeader of the new member: got %v, %v, want false", is, err)
	}
	if got, err := joiner.KV().Get(ctx, "/without-leader"); err != nil || string(got.Value) != "x" {
		t.Errorf("Get on the new member: got %q, %v, want %q", got.Value, err, "x")
	}
}

// leaderOf returns the member that leads.
func leaderOf(t *testing.T, ms []*cluster.Member) *cluster.Member {
	t.Helper()
	for _, m := range ms {
		is, err := m.IsLeader(ctxFor(t))
		if err != nil {
			t.Fatalf("IsLeader: %v", err)
		}
		if is {
			return m
		}
	}
	t.Fatal("no member leads")
	return nil
}

// put writes key once: the store must ride out elections itself.
func put(t *testing.T, m *cluster.Member, key, value string) {
	t.Helper()
	if _, err := m.KV().Txn(ctxFor(t), nil, []cluster.Op{cluster.Put(key, []byte(value))}); err != nil {
		t.Fatalf("write %s: %v", key, err)
	}
}

func stop(t *testing.T, ms ...*cluster.Member) {
	t.Helper()
	for _, m := range ms {
		if err := m.Stop(); err != nil {
			t.Fatalf("Stop: %v", err)
		}
	}
}

// restart restarts m with its own configuration, changed by change when not
// nil.
func restart(t *testing.T, m *cluster.Member, change func(*cluster.Config)) {
	t.Helper()
	cfg := m.Config()
	if change != nil {
		change(&cfg)
	}
	if err := m.Restart(ctxFor(t), cfg); err != nil {
		t.Fatalf("Restart: %v", err)
	}
}

// waitFor polls cond until it returns nil, failing t with its last error
// after recoverTimeout.
func waitFor(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(recoverTimeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
