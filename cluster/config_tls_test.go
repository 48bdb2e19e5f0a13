package cluster_test

import (
	"crypto/x509"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/cluster"
	"github.com/keywarden/keywarden/cluster/clustertest"
)

func TestValidatePeerTLS(t *testing.T) {
	ca, other := clustertest.NewCA(t), clustertest.NewCA(t)
	good := ca.PeerTLS(t, "127.0.0.1")
	mismatched := *good
	mismatched.Key = ca.PeerTLS(t, "127.0.0.1").Key
	garbage := *good
	garbage.Cert = []byte("not PEM")
	noCA := *good
	noCA.CA = nil
	foreign := other.PeerTLS(t, "127.0.0.1")
	foreign.CA = ca.PEM()

	tests := []struct {
		name    string
		tls     *cluster.PeerTLS
		listen  string
		wantErr string // empty: valid
	}{
		{"valid", good, "127.0.0.1:2380", ""},
		{"valid without a peer listener", good, "", ""},
		{"key of another certificate", &mismatched, "127.0.0.1:2380", "certificate and key"},
		{"certificate not PEM", &garbage, "127.0.0.1:2380", "certificate and key"},
		{"no CA", &noCA, "127.0.0.1:2380", "no PEM certificate"},
		{"certificate from another CA", foreign, "127.0.0.1:2380", "not signed by the peer CA"},
		{"server-only certificate", ca.Issue(t, "127.0.0.1", x509.ExtKeyUsageServerAuth), "127.0.0.1:2380", "client authentication"},
		{"client-only certificate", ca.Issue(t, "127.0.0.1", x509.ExtKeyUsageClientAuth), "127.0.0.1:2380", "server authentication"},
		{"certificate for another address", ca.PeerTLS(t, "127.0.0.2"), "127.0.0.1:2380", "does not name the peer address 127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := cluster.Config{Name: "n", DataDir: t.TempDir(), PeerListen: tt.listen, PeerTLS: tt.tls}
			checkValidate(t, cfg, tt.wantErr)
		})
	}
}

func TestValidateJoin(t *testing.T) {
	tls := clustertest.NewCA(t).PeerTLS(t, "127.0.0.1")
	const self, peer = "https://127.0.0.1:2380", "https://127.0.0.1:2381"
	tests := []struct {
		name    string
		cfg     cluster.Config
		wantErr string
	}{
		{"valid", cluster.Config{PeerListen: "127.0.0.1:2380", PeerTLS: tls, Join: true,
			InitialCluster: map[string][]string{"n": {self}, "member-8e9e05c52164694d": {peer}}}, ""},
		{"plain http", cluster.Config{PeerListen: "127.0.0.1:2380", Join: true,
			InitialCluster: map[string][]string{"n": {"http://127.0.0.1:2380"}, "a": {"http://127.0.0.1:2381"}}}, ""},
		{"no peer listener", cluster.Config{PeerTLS: tls, Join: true,
			InitialCluster: map[string][]string{"n": {self}, "a": {peer}}}, "peer listen must be set"},
		{"this member missing", cluster.Config{PeerListen: "127.0.0.1:2380", PeerTLS: tls, Join: true,
			InitialCluster: map[string][]string{"a": {peer}, "b": {"https://127.0.0.1:2382"}}}, "want exactly its peer URL"},
		{"this member at another URL", cluster.Config{PeerListen: "127.0.0.1:2380", PeerTLS: tls, Join: true,
			InitialCluster: map[string][]string{"n": {peer}, "a": {peer}}}, "want exactly its peer URL"},
		{"nobody to join", cluster.Config{PeerListen: "127.0.0.1:2380", PeerTLS: tls, Join: true,
			InitialCluster: map[string][]string{"n": {self}}}, "at least one"},
		{"initial cluster without join", cluster.Config{PeerListen: "127.0.0.1:2380", PeerTLS: tls,
			InitialCluster: map[string][]string{"n": {self}, "a": {peer}}}, "only used to join"},
		{"http peer in a TLS cluster", cluster.Config{PeerListen: "127.0.0.1:2380", PeerTLS: tls, Join: true,
			InitialCluster: map[string][]string{"n": {self}, "a": {"http://127.0.0.1:2381"}}}, "scheme must be https"},
		{"peer URL with a path", cluster.Config{PeerListen: "127.0.0.1:2380", PeerTLS: tls, Join: true,
			InitialCluster: map[string][]string{"n": {self}, "a": {peer + "/x"}}}, "want only a scheme"},
		{"bad member name", cluster.Config{PeerListen: "127.0.0.1:2380", PeerTLS: tls, Join: true,
			InitialCluster: map[string][]string{"n": {self}, "a=b": {peer}}}, `"a=b" is not a valid name`},
		{"join and force new cluster", cluster.Config{PeerListen: "127.0.0.1:2380", PeerTLS: tls, Join: true, ForceNewCluster: true,
			InitialCluster: map[string][]string{"n": {self}, "a": {peer}}}, "force new cluster: not with join"},
		{"join without quorum", cluster.Config{PeerListen: "127.0.0.1:2380", PeerTLS: tls, Join: true, StartWithoutQuorum: true,
			InitialCluster: map[string][]string{"n": {self}, "a": {peer}}}, "start without quorum: not with join"},
		{"force new cluster without quorum", cluster.Config{PeerListen: "127.0.0.1:2380", PeerTLS: tls,
			ForceNewCluster: true, StartWithoutQuorum: true}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Name, tt.cfg.DataDir = "n", t.TempDir()
			checkValidate(t, tt.cfg, tt.wantErr)
		})
	}
}

// checkValidate checks that cfg is valid when wantErr is empty, and
// otherwise that Validate fails mentioning wantErr.
func checkValidate(t *testing.T, cfg cluster.Config, wantErr string) {
	t.Helper()
	err := cfg.Validate()
	switch {
	case wantErr == "" && err != nil:
		t.Errorf("got error %v, want none", err)
	case wantErr != "" && err == nil:
		t.Errorf("got no error, want one mentioning %q", wantErr)
	case wantErr != "" && !strings.Contains(err.Error(), wantErr):
		t.Errorf("got error %q, want it to mention %q", err, wantErr)
	}
}
