package cluster_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/cluster"
	"github.com/keywarden/keywarden/cluster/clustertest"
)

// opTimeout bounds one membership call or write in these tests.
const opTimeout = 30 * time.Second

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	t.Cleanup(cancel)
	return ctx
}

// TestThreeMembers runs one three-member cluster through replication,
// membership, a refused joiner and the loss of members, in that order.
func TestThreeMembers(t *testing.T) {
	t.Parallel()
	c := clustertest.StartCluster(t, 3)
	ms := c.Members

	t.Run("write on node-1 reads on node-3", func(t *testing.T) {
		ctx := ctxFor(t)
		rev, err := ms[0].KV().Txn(ctx, []cluster.Cond{cluster.Absent("/k")}, []cluster.Op{cluster.Put("/k", []byte("v"))})
		if err != nil {
			t.Fatalf("Txn on node-1: %v", err)
		}
		got, err := ms[2].KV().Get(ctx, "/k")
		if err != nil || string(got.Value) != "v" || got.ModRevision != rev {
			t.Errorf("Get on node-3: got %q at %d, %v, want %q at %d", got.Value, got.ModRevision, err, "v", rev)
		}
	})
	t.Run("members", func(t *testing.T) { checkMembers(t, ms) })
	t.Run("status", func(t *testing.T) { checkStatus(t, ms) })
	t.Run("peer port requires a certificate from the cluster CA", func(t *testing.T) {
		checkPeerPortAuth(t, c.CA, ms[0].PeerURL())
	})
	t.Run("member with a certificate from another CA cannot join", func(t *testing.T) {
		checkForeignJoinerRefused(t, ms[0], follower(t, ms), c.CA)
	})
	t.Run("refused membership changes", func(t *testing.T) { checkRefusals(t, ms[0], ms[1].ID()) })
	t.Run("losing members", func(t *testing.T) { checkQuorumLoss(t, ms) })
}

// checkMembers checks that every member sees the same three voters.
func checkMembers(t *testing.T, ms []*cluster.Member) {
	want := map[uint64]string{}
	for _, m := range ms {
		want[m.ID()] = m.PeerURL()
	}
	for i, m := range ms {
		got, err := m.Members(ctxFor(t))
		if err != nil {
			t.Fatalf("Members on member %d: %v", i+1, err)
		}
		if len(got) != len(ms) {
			t.Fatalf("Members on member %d: got %d members, want %d: %+v", i+1, len(got), len(ms), got)
		}
		for _, mi := range got {
			url, ok := want[mi.ID]
			if !ok || !slices.Equal(mi.PeerURLs, []string{url}) || mi.IsLearner || !strings.HasPrefix(mi.Name, "node-") {
				t.Errorf("member %d lists %+v, want a voter named node-* at [%s]", i+1, mi, url)
			}
			if !strings.HasPrefix(url, "https://127.0.0.1:") {
				t.Errorf("peer URL %q, want https on 127.0.0.1", url)
			}
		}
	}
}

// checkStatus checks that every member reports itself, one common leader and
// an applied index close to the leader's.
func checkStatus(t *testing.T, ms []*cluster.Member) {
	var sts []cluster.MemberStatus
	for i, m := range ms {
		st, err := m.Status(ctxFor(t))
		if err != nil {
			t.Fatalf("Status on member %d: %v", i+1, err)
		}
		t.Logf("member %d: %+v", i+1, st)
		if st.ID != m.ID() || st.IsLearner || st.RaftTerm == 0 || st.RaftAppliedIndex == 0 {
			t.Errorf("Status on member %d: got %+v, want ID %x, a voter with a term and applied entries", i+1, st, m.ID())
		}
		sts = append(sts, st)
	}
	leader := slices.IndexFunc(sts, func(st cluster.MemberStatus) bool { return st.ID == sts[0].Leader })
	if leader < 0 {
		t.Fatalf("leader %x is none of the members", sts[0].Leader)
	}
	for i, st := range sts {
		if st.Leader != sts[leader].ID {
			t.Errorf("member %d follows %x, want %x", i+1, st.Leader, sts[leader].ID)
		}
		// Idle members are level; a few heartbeats' worth is the most
		// a loaded machine should show.
		if lag := st.LagBehind(sts[leader]); lag > 10 {
			t.Errorf("member %d lags %d entries behind the leader, want at most 10", i+1, lag)
		}
	}
}

// checkPeerPortAuth checks that a member's peer port answers only clients
// with a certificate from the cluster CA.
func checkPeerPortAuth(t *testing.T, ca *clustertest.CA, peerURL string) {
	tests := []struct {
		name   string
		cert   *cluster.PeerTLS // nil: no client certificate
		wantOK bool
	}{
		{"no client certificate", nil, false},
		{"certificate from another CA", clustertest.NewCA(t).PeerTLS(t, "127.0.0.1"), false},
		{"certificate from the cluster CA", ca.PeerTLS(t, "127.0.0.1"), true},
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.PEM())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &tls.Config{RootCAs: roots}
			if tt.cert != nil {
				pair, err := tls.X509KeyPair(tt.cert.Cert, tt.cert.Key)
				if err != nil {
					t.Fatal(err)
				}
				cfg.Certificates = []tls.Certificate{pair}
			}
			tr := &http.Transport{TLSClientConfig: cfg}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(peerURL + "/version")
			if err == nil {
				resp.Body.Close()
			}
			if ok := err == nil && resp.StatusCode == http.StatusOK; ok != tt.wantOK {
				t.Errorf("GET /version: got error %v, want success %v", err, tt.wantOK)
			}
		})
	}
}

// checkForeignJoinerRefused registers a learner whose certificate comes from
// another CA, checks that it cannot join and leaves its data dir as it was,
// and removes it again. The joiner either trusts only its own CA (it refuses
// the cluster) or trusts the cluster CA too (the cluster refuses it).
func checkForeignJoinerRefused(t *testing.T, via, follower *cluster.Member, clusterCA *clustertest.CA) {
	ctx := ctxFor(t)
	addr := clustertest.PeerAddr(t)
	learner, members, err := via.AddLearner(ctx, []string{"https://" + addr})
	if err != nil {
		t.Fatalf("AddLearner: %v", err)
	}
	if _, _, err := via.AddLearner(ctx, []string{"https://" + clustertest.PeerAddr(t)}); !errors.Is(err, cluster.ErrLearnerPending) {
		t.Errorf("second AddLearner: got %v, want ErrLearnerPending", err)
	}
	initial, err := cluster.InitialClusterFor(members, learner.ID, "foreign")
	if err != nil {
		t.Fatal(err)
	}
	own := clustertest.NewCA(t).PeerTLS(t, "127.0.0.1")
	both := *own
	both.CA = append(slices.Clip(own.CA), clusterCA.PEM()...)
	for _, tt := range []struct {
		name string
		tls  *cluster.PeerTLS
	}{
		{"joiner trusts only its own CA", own},
		{"joiner trusts the cluster CA too", &both},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			joiner := clustertest.NewMember(t, cluster.Config{
				Name: "foreign", DataDir: dir, PeerListen: addr, PeerTLS: tt.tls,
				Join: true, InitialCluster: initial,
			})
			err := joiner.Start(ctx)
			t.Logf("Start: %v", err)
			if !errors.Is(err, cluster.ErrPeerTLS) {
				t.Errorf("Start: got %v, want ErrPeerTLS", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "member")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("member data after the failed join: got stat error %v, want none left", err)
			}
		})
	}
	checkPromoteGivesUp(t, follower, learner.ID)
	if err := via.Remove(ctx, learner.ID); err != nil {
		t.Fatalf("Remove the learner: %v", err)
	}
	got, err := via.Members(ctx)
	if err != nil || len(got) != len(members)-1 {
		t.Errorf("Members after Remove: got %+v, %v, want %d members", got, err, len(members)-1)
	}
}

// checkPromoteGivesUp promotes a learner that never synced, through a
// member that must ask the leader, and checks that Promote keeps trying only
// until its context ends.
func checkPromoteGivesUp(t *testing.T, via *cluster.Member, learner uint64) {
	const wait = 1500 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	begin := time.Now()
	err := via.Promote(ctx, learner)
	took := time.Since(begin)
	if !errors.Is(err, cluster.ErrLearnerNotReady) {
		t.Errorf("Promote of a learner that never synced: got %v, want ErrLearnerNotReady", err)
	}
	if took < wait || took > wait+time.Second {
		t.Errorf("Promote gave up after %v, want just after %v", took, wait)
	}
}

// follower returns a member that is not the leader.
func follower(t *testing.T, ms []*cluster.Member) *cluster.Member {
	t.Helper()
	for _, m := range ms {
		st, err := m.Status(ctxFor(t))
		if err != nil {
			t.Fatal(err)
		}
		if st.Leader != 0 && st.Leader != m.ID() {
			return m
		}
	}
	t.Fatal("no member follows a leader")
	return nil
}

// checkRefusals checks membership changes that must be refused, with their
// sentinel errors.
func checkRefusals(t *testing.T, via *cluster.Member, voter uint64) {
	const unknown = 0x1234
	tests := []struct {
		name string
		call func(ctx context.Context) error
		want error
	}{
		{"promote a voter", func(ctx context.Context) error { return via.Promote(ctx, voter) }, cluster.ErrNotLearner},
		{"promote an unknown member", func(ctx context.Context) error { return via.Promote(ctx, unknown) }, cluster.ErrMemberNotFound},
		{"remove an unknown member", func(ctx context.Context) error { return via.Remove(ctx, unknown) }, cluster.ErrMemberNotFound},
		{"update an unknown member", func(ctx context.Context) error {
			return via.UpdatePeerURLs(ctx, unknown, []string{"https://127.0.0.1:9"})
		}, cluster.ErrMemberNotFound},
		{"plain http peer URL", func(ctx context.Context) error {
			_, _, err := via.AddLearner(ctx, []string{"http://127.0.0.1:9"})
			return err
		}, cluster.ErrInvalidPeerURL},
		{"peer URL of a member", func(ctx context.Context) error {
			_, _, err := via.AddLearner(ctx, []string{via.PeerURL()})
			return err
		}, cluster.ErrPeerURLInUse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(ctxFor(t)); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

// checkQuorumLoss closes the leader, checks that the other two keep
// accepting writes, then closes one more and checks that the last one
// reports the store unavailable within the per-call timeout.
func checkQuorumLoss(t *testing.T, ms []*cluster.Member) {
	st, err := ms[0].Status(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	var rest []*cluster.Member
	for _, m := range ms {
		if m.ID() == st.Leader {
			closeBegin := time.Now()
			if err := m.Close(); err != nil {
				t.Fatalf("Close the leader: %v", err)
			}
			t.Logf("closing the leader took %v", time.Since(closeBegin))
			continue
		}
		rest = append(rest, m)
	}
	begin := time.Now()
	for i, m := range rest {
		writeSoon(t, m, "/after-leader-loss/"+string(rune('a'+i)))
	}
	t.Logf("two members wrote %v after the leader closed", time.Since(begin))

	begin = time.Now()
	if err := rest[0].Close(); err != nil {
		t.Fatalf("Close a second member: %v", err)
	}
	t.Logf("closing a second member took %v", time.Since(begin))
	last := rest[1].KV()
	begin = time.Now()
	_, err = last.Txn(context.Background(), nil, []cluster.Op{cluster.Put("/no-quorum", nil)})
	took := time.Since(begin)
	t.Logf("Txn without quorum failed after %v: %v", took, err)
	if !errors.Is(err, cluster.ErrUnavailable) {
		t.Errorf("Txn without quorum: got %v, want ErrUnavailable", err)
	}
	if limit := cluster.CallTimeout + time.Second; took > limit {
		t.Errorf("Txn without quorum took %v, want under %v", took, limit)
	}
	begin = time.Now()
	_, err = last.Get(context.Background(), "/k")
	t.Logf("Get without quorum failed after %v: %v", time.Since(begin), err)
	if !errors.Is(err, cluster.ErrUnavailable) {
		t.Errorf("Get without quorum: got %v, want ErrUnavailable", err)
	}
}

// writeSoon writes key on m, retrying while the cluster elects a new leader.
func writeSoon(t *testing.T, m *cluster.Member, key string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := m.KV().Txn(context.Background(), nil, []cluster.Op{cluster.Put(key, []byte("x"))})
		if err == nil {
			return
		}
		if !errors.Is(err, cluster.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("write %s: %v", key, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
