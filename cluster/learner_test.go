package cluster_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/keywarden/keywarden/cluster"
	"github.com/keywarden/keywarden/cluster/clustertest"
)

// learnerRefusalBound is how fast a learner's store must refuse: a learner
// answers at once, and retrying it would take the whole call timeout (8 s)
// on the appliance's request path. The margin is for a loaded machine.
const learnerRefusalBound = 3 * time.Second

// TestLearnerRestartsBeforePromotion follows an appliance that joined as a
// learner and went down before anyone promoted it: its data dir holds a
// member, so a second Join is refused, but a plain start (also one that may
// start without quorum, as the appliance does) brings the learner back, and
// it is then promoted and serves. A learner's membership RPCs are refused by
// etcd, so Start must not depend on them.
func TestLearnerRestartsBeforePromotion(t *testing.T) {
	t.Parallel()
	c := clustertest.StartCluster(t, 2)
	voter := c.Members[0]
	ctx := ctxFor(t)
	if _, err := voter.KV().Txn(ctx, nil, []cluster.Op{cluster.Put("/before", []byte("v"))}); err != nil {
		t.Fatalf("Txn: %v", err)
	}
	first := joinAsLearner(t, voter, c.CA)
	checkLearnerRefusesQuickly(t, first)
	cfg, id := first.Config(), first.ID()
	joinCfg := cfg
	joinCfg.Join, joinCfg.InitialCluster = true, map[string][]string{"node-1": {voter.PeerURL()}, cfg.Name: {first.PeerURL()}}
	if err := first.Close(); err != nil {
		t.Fatalf("Close the learner: %v", err)
	}

	if err := clustertest.NewMember(t, joinCfg).Start(ctx); !errors.Is(err, cluster.ErrHasMemberData) {
		t.Errorf("Start the stopped learner with Join: got %v, want ErrHasMemberData", err)
	}

	for _, withoutQuorum := range []bool{false, true} {
		cfg.StartWithoutQuorum = withoutQuorum
		again := clustertest.NewMember(t, cfg)
		begin := time.Now()
		if err := again.Start(ctx); err != nil {
			t.Fatalf("Start the stopped learner (StartWithoutQuorum %v): %v", withoutQuorum, err)
		}
		t.Logf("learner restarted (StartWithoutQuorum %v) in %v", withoutQuorum, time.Since(begin))
		if again.ID() != id {
			t.Errorf("ID after restart: got %x, want %x", again.ID(), id)
		}
		if !withoutQuorum {
			checkLearnerRefusesQuickly(t, again)
			if err := again.Close(); err != nil {
				t.Fatalf("Close the restarted learner: %v", err)
			}
			continue
		}
		promoteRestarted(t, voter, again)
	}
}

// checkLearnerRefusesQuickly checks that a learner's store fails with
// ErrUnavailable without waiting out the call timeout.
func checkLearnerRefusesQuickly(t *testing.T, learner *cluster.Member) {
	t.Helper()
	begin := time.Now()
	_, err := learner.KV().Get(ctxFor(t), "/before")
	took := time.Since(begin)
	if !errors.Is(err, cluster.ErrUnavailable) || took > learnerRefusalBound {
		t.Errorf("Get on a learner: got %v after %v, want ErrUnavailable within %v", err, took, learnerRefusalBound)
	}
}

// promoteRestarted promotes the restarted learner through voter the way the
// appliance's leader does, and checks that it then serves the cluster's data.
func promoteRestarted(t *testing.T, voter, learner *cluster.Member) {
	t.Helper()
	begin := time.Now()
	waitFor(t, "the restarted learner to be promoted", func() error {
		got, err := voter.PromoteReadyLearners(ctxFor(t))
		switch {
		case err != nil:
			return err
		case !slices.Equal(got, []uint64{learner.ID()}):
			return fmt.Errorf("promoted %x, want %x", got, learner.ID())
		}
		return nil
	})
	ctx := ctxFor(t)
	if err := learner.AwaitPromotion(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("restarted learner promoted in %v", time.Since(begin))
	if got, err := learner.KV().Get(ctx, "/before"); err != nil || string(got.Value) != "v" {
		t.Errorf("Get on the promoted member: got %q, %v, want %q", got.Value, err, "v")
	}
}
