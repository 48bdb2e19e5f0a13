package cluster_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/cluster"
	"github.com/keywarden/keywarden/cluster/clustertest"
)

// TestPeerClockOffsets measures a real member's clock (the same host: about
// zero) and a peer whose clock runs two seconds ahead. A host's clock cannot
// be skewed on this machine without changing it for every test, so the
// second peer is a TLS server answering etcd's probing path with a skewed
// time, exactly as etcd's handler answers (that handler is the only part
// replaced).
func TestPeerClockOffsets(t *testing.T) {
	t.Parallel()
	ca := clustertest.NewCA(t)
	member := clustertest.NewMember(t, cluster.Config{
		Name:       "clock-1",
		DataDir:    t.TempDir(),
		PeerListen: clustertest.PeerAddr(t),
		PeerTLS:    ca.PeerTLS(t, "127.0.0.1"),
	})
	clustertest.StartMember(t, member)

	const ahead = 2 * time.Second
	skewed := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/raft/probing" {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(struct {
			OK  bool
			Now time.Time
		}{true, time.Now().Add(ahead)})
	}))
	srvTLS := ca.PeerTLS(t, "127.0.0.1")
	pair, err := tls.X509KeyPair(srvTLS.Cert, srvTLS.Key)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.PEM())
	skewed.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	skewed.StartTLS()
	defer skewed.Close()

	down := "https://" + clustertest.PeerAddr(t) // nothing listens there
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	offsets, err := cluster.PeerClockOffsets(ctx, *ca.PeerTLS(t, "127.0.0.1"), []string{member.PeerURL(), skewed.URL, down})
	if err == nil || !strings.Contains(err.Error(), down) {
		t.Errorf("a peer that does not answer: got %v, want an error naming %s", err, down)
	}
	if d, ok := offsets[member.PeerURL()]; !ok || d < -100*time.Millisecond || d > 100*time.Millisecond {
		t.Errorf("real member on this host: offset %v (measured %v), want about zero", d, ok)
	}
	if d, ok := offsets[skewed.URL]; !ok || d < ahead-100*time.Millisecond || d > ahead+100*time.Millisecond {
		t.Errorf("peer two seconds ahead: offset %v (measured %v), want about %v", d, ok, ahead)
	}
	if _, ok := offsets[down]; ok {
		t.Error("a peer that does not answer has an offset")
	}

	// A certificate from another CA is refused by the member: no offset.
	other := clustertest.NewCA(t)
	if got, err := cluster.PeerClockOffsets(ctx, *other.PeerTLS(t, "127.0.0.1"), []string{member.PeerURL()}); err == nil || len(got) != 0 {
		t.Errorf("probe with a foreign certificate: got %v, %v; want refused", got, err)
	}
}
