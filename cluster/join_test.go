package cluster_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/keywarden/keywarden/cluster"
	"github.com/keywarden/keywarden/cluster/clustertest"
)

// TestLoneMemberAcceptsJoinerAfterRestart follows a single appliance that
// becomes the first member of a cluster: restarted with a peer listener and
// TLS, it moves its recorded peer URL there by itself, and a joiner then
// receives the data it held alone.
func TestLoneMemberAcceptsJoinerAfterRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	lone := clustertest.NewMember(t, cluster.Config{Name: "node-1", DataDir: dir})
	clustertest.StartMember(t, lone)
	ctx := ctxFor(t)
	if _, err := lone.KV().Txn(ctx, nil, []cluster.Op{cluster.Put("/solo", []byte("kept"))}); err != nil {
		t.Fatalf("Txn: %v", err)
	}
	if _, _, err := lone.AddLearner(ctx, []string{"http://127.0.0.1:9"}); !errors.Is(err, cluster.ErrNoPeerListener) {
		t.Errorf("AddLearner without a peer listener: got %v, want ErrNoPeerListener", err)
	}
	if err := lone.Close(); err != nil {
		t.Fatal(err)
	}

	ca := clustertest.NewCA(t)
	first := clustertest.NewMember(t, cluster.Config{
		Name: "node-1", DataDir: dir, PeerListen: clustertest.PeerAddr(t), PeerTLS: ca.PeerTLS(t, "127.0.0.1"),
	})
	begin := time.Now()
	clustertest.StartMember(t, first)
	t.Logf("restarted with a peer listener in %v", time.Since(begin))
	members, err := first.Members(ctx)
	if err != nil || len(members) != 1 || !slices.Equal(members[0].PeerURLs, []string{first.PeerURL()}) {
		t.Fatalf("Members after restart: got %+v, %v, want one member at %s", members, err, first.PeerURL())
	}

	joiner := joinAsLearner(t, first, ca)
	if _, err := joiner.KV().Get(ctx, "/solo"); !errors.Is(err, cluster.ErrUnavailable) {
		t.Errorf("Get on a learner: got %v, want ErrUnavailable", err)
	}
	if st, err := joiner.Status(ctx); err != nil || !st.IsLearner || st.ID != joiner.ID() {
		t.Errorf("Status of the learner: got %+v, %v, want learner %x", st, err, joiner.ID())
	}
	begin = time.Now()
	if err := first.Promote(ctx, joiner.ID()); err != nil {
		t.Fatalf("Promote: %v", err)
	}
	if err := joiner.AwaitPromotion(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("promoted in %v", time.Since(begin))
	got, err := joiner.KV().Get(ctx, "/solo")
	if err != nil || string(got.Value) != "kept" {
		t.Errorf("Get on the promoted joiner: got %q, %v, want %q", got.Value, err, "kept")
	}
	for _, m := range []*cluster.Member{first, joiner} {
		checkKeyNotOnDisk(t, m.DataDir())
	}
}

// joinAsLearner registers a new member through via and starts it, leaving
// it a learner. It is named after its place in the cluster: node-2 joins a
// lone member.
func joinAsLearner(t *testing.T, via *cluster.Member, ca *clustertest.CA) *cluster.Member {
	t.Helper()
	ctx := ctxFor(t)
	before, err := via.Members(ctx)
	if err != nil {
		t.Fatalf("Members: %v", err)
	}
	addr := clustertest.PeerAddr(t)
	learner, members, err := via.AddLearner(ctx, []string{"https://" + addr})
	if err != nil {
		t.Fatalf("AddLearner: %v", err)
	}
	if want := len(before) + 1; !learner.IsLearner || learner.Name != "" || len(members) != want {
		t.Errorf("AddLearner: got %+v and %d members, want an unnamed learner and %d members", learner, len(members), want)
	}
	name := fmt.Sprintf("node-%d", len(members))
	initial, err := cluster.InitialClusterFor(members, learner.ID, name)
	if err != nil {
		t.Fatal(err)
	}
	joiner := clustertest.NewMember(t, cluster.Config{
		Name: name, DataDir: t.TempDir(), PeerListen: addr, PeerTLS: ca.PeerTLS(t, "127.0.0.1"),
		Join: true, InitialCluster: initial,
	})
	begin := time.Now()
	clustertest.StartMember(t, joiner)
	t.Logf("learner started in %v", time.Since(begin))
	if joiner.ID() != learner.ID {
		t.Errorf("joiner ID: got %x, want the learner's %x", joiner.ID(), learner.ID)
	}
	return joiner
}

// checkKeyNotOnDisk fails t if any file under dir holds a peer private key
// issued for this test: keys only ever live in memory files.
func checkKeyNotOnDisk(t *testing.T, dir string) {
	t.Helper()
	// Every key the test CA issues is PKCS#8 PEM; its header is enough to
	// spot one.
	marker := []byte("PRIVATE KEY")
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(data, marker) {
			t.Errorf("%s holds a PEM private key", path)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("scan %s: %v", dir, err)
	}
}

// TestRemoveMember: the second of two members removes itself and stops
// serving, the first keeps serving alone and refuses to remove itself too.
func TestRemoveMember(t *testing.T) {
	t.Parallel()
	c := clustertest.StartCluster(t, 2)
	first, second := c.Members[0], c.Members[1]
	ctx := ctxFor(t)

	extra := []string{second.PeerURL(), "https://" + clustertest.PeerAddr(t)}
	if err := first.UpdatePeerURLs(ctx, second.ID(), extra); err != nil {
		t.Fatalf("UpdatePeerURLs: %v", err)
	}
	if got := peerURLsOf(t, first, second.ID()); !slices.Equal(got, extra) {
		t.Errorf("peer URLs after UpdatePeerURLs: got %q, want %q", got, extra)
	}

	begin := time.Now()
	if err := second.Remove(ctx, second.ID()); err != nil {
		t.Fatalf("Remove itself: %v", err)
	}
	t.Logf("Remove took %v", time.Since(begin))
	members, err := first.Members(ctx)
	if err != nil || len(members) != 1 || members[0].ID != first.ID() {
		t.Errorf("Members after Remove: got %+v, %v, want only %x", members, err, first.ID())
	}
	if _, err := first.KV().Txn(ctx, nil, []cluster.Op{cluster.Put("/alone", nil)}); err != nil {
		t.Errorf("Txn on the remaining member: %v", err)
	}
	waitUnavailable(t, second.KV())
	if err := second.Close(); err != nil {
		t.Errorf("Close the removed member: %v", err)
	}
	if err := first.Remove(ctx, first.ID()); !errors.Is(err, cluster.ErrUnavailable) {
		t.Errorf("Remove the last member: got %v, want ErrUnavailable", err)
	}
}

func peerURLsOf(t *testing.T, via *cluster.Member, id uint64) []string {
	t.Helper()
	members, err := via.Members(ctxFor(t))
	if err != nil {
		t.Fatalf("Members: %v", err)
	}
	for _, mi := range members {
		if mi.ID == id {
			return mi.PeerURLs
		}
	}
	t.Fatalf("member %x not listed in %+v", id, members)
	return nil
}

// waitUnavailable waits until kv fails with ErrUnavailable, which a removed
// member does once it learns of its removal.
func waitUnavailable(t *testing.T, kv cluster.KV) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := kv.Get(context.Background(), "/alone")
		if errors.Is(err, cluster.ErrUnavailable) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Get on the removed member: got %v, want ErrUnavailable", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestJoinRefusesDataDirWithMember: a data dir that holds a member must not
// silently restart as that member when asked to join another cluster, and
// must come out of the refusal untouched.
func TestJoinRefusesDataDirWithMember(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	solo := clustertest.NewMember(t, cluster.Config{Name: "node-1", DataDir: dir})
	clustertest.StartMember(t, solo)
	if _, err := solo.KV().Txn(ctxFor(t), nil, []cluster.Op{cluster.Put("/mine", []byte("v"))}); err != nil {
		t.Fatal(err)
	}
	solo.Close()

	addr := clustertest.PeerAddr(t)
	joiner := clustertest.NewMember(t, cluster.Config{
		Name: "node-1", DataDir: dir, PeerListen: addr, Join: true,
		InitialCluster: map[string][]string{"node-1": {"http://" + addr}, "other": {"http://127.0.0.1:9"}},
	})
	if err := joiner.Start(ctxFor(t)); !errors.Is(err, cluster.ErrHasMemberData) {
		t.Fatalf("Start with Join: got %v, want ErrHasMemberData", err)
	}
	again := clustertest.NewMember(t, cluster.Config{Name: "node-1", DataDir: dir})
	clustertest.StartMember(t, again)
	if got, err := again.KV().Get(ctxFor(t), "/mine"); err != nil || string(got.Value) != "v" {
		t.Errorf("Get after the refused join: got %q, %v, want %q", got.Value, err, "v")
	}
}
