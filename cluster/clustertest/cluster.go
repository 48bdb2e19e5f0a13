package clustertest

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/keywarden/keywarden/cluster"
)

// joinTimeout bounds registering, starting and promoting one member. etcd
// accepts a new learner only once the existing members have been connected
// for five seconds, so a join right after another takes that long.
const joinTimeout = 60 * time.Second

// Cluster is a cluster of real members on 127.0.0.1 whose peers authenticate
// each other with certificates from CA.
type Cluster struct {
	CA      *CA
	Members []*cluster.Member
}

// StartCluster starts the first member with a peer listener and mutual TLS,
// then adds the others one at a time the way appliances join: registered as
// a learner by the first member, started with Join, promoted. All members
// are voters when it returns and are closed when the test ends.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	begin := time.Now()
	ca := NewCA(t)
	first := NewMember(t, cluster.Config{
		Name:       "node-1",
		DataDir:    t.TempDir(),
		PeerListen: PeerAddr(t),
		PeerTLS:    ca.PeerTLS(t, "127.0.0.1"),
	})
	StartMember(t, first)
	c := &Cluster{CA: ca, Members: []*cluster.Member{first}}
	for len(c.Members) < n {
		c.AddMember(t)
	}
	t.Logf("started a cluster of %d members in %v", n, time.Since(begin).Round(time.Millisecond))
	return c
}

// AddMember joins a new voting member, registered and promoted through the
// first member, and returns it.
func (c *Cluster) AddMember(t testing.TB) *cluster.Member {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), joinTimeout)
	defer cancel()
	begin := time.Now()
	via := c.Members[0]
	name := fmt.Sprintf("node-%d", len(c.Members)+1)
	addr := PeerAddr(t)
	learner, members, err := via.AddLearner(ctx, []string{"https://" + addr})
	if err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	initial, err := cluster.InitialClusterFor(members, learner.ID, name)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMember(t, cluster.Config{
		Name:           name,
		DataDir:        t.TempDir(),
		PeerListen:     addr,
		PeerTLS:        c.CA.PeerTLS(t, "127.0.0.1"),
		Join:           true,
		InitialCluster: initial,
	})
	if err := m.Start(ctx); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	if err := via.Promote(ctx, learner.ID); err != nil {
		t.Fatalf("promote %s: %v", name, err)
	}
	if err := m.AwaitPromotion(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s joined in %v", name, time.Since(begin).Round(time.Millisecond))
	c.Members = append(c.Members, m)
	return m
}

// PeerAddr returns a 127.0.0.1 address with a port that was free a moment
// ago, for a member's PeerListen.
func PeerAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}
