package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"

	"github.com/keywarden/keywarden/appliance/apptest"
	"github.com/keywarden/keywarden/appliance/client"
)

const backupPass = "backup-Passphrase-41d7"

// node is one appliance of a test cluster: a real keywardend with a peer
// listener on loopback.
type node struct {
	*apptest.Daemon
	peer string // host:port of the peer listener
}

func (n *node) peerURL() string { return "https://" + n.peer }

func (n *node) admin(t testing.TB) *client.Client { return n.Client("admin", adminPass) }

// startNode starts an appliance with a peer listener, provisioned with
// unlock, so that it is Operational, its TLS certificate signed by ca for
// peer use and ca installed as its cluster CA: ready to found or join a
// cluster.
func startNode(t testing.TB, ca testCA, unlock string, args ...string) *node {
	t.Helper()
	peer := apptest.FreeAddr(t)
	d := apptest.Start(t, apptest.Options{Args: append([]string{"--peer-listen", peer}, args...)})
	n := &node{Daemon: d, peer: peer}
	ctx := apptest.Context(t)
	err := d.Client("", "").Provision(ctx, client.ProvisionRequest{UnlockPassphrase: unlock, AdminPassphrase: adminPass, SystemTime: time.Now().UTC()})
	if err != nil {
		t.Fatalf("provision: %v", err)
	}
	admin := n.admin(t)
	csrPEM, err := admin.TLSCSR(ctx, client.DistinguishedName{CommonName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(csrPEM)
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.SetTLSCert(ctx, ca.issuePeer(t, csr.PublicKey)); err != nil {
		t.Fatalf("install the node certificate: %v", err)
	}
	if err := admin.SetClusterCA(ctx, ca.pem); err != nil {
		t.Fatalf("set the cluster CA: %v", err)
	}
	return n
}

// issuePeer certifies pub for 127.0.0.1 for both server and client
// authentication, as cluster peers need.
func (ca testCA) issuePeer(t testing.TB, pub any) []byte {
	return ca.issue(t, pub, x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth)
}

// testCluster is a cluster of real appliances formed through the API.
type testCluster struct {
	ca    testCA
	nodes []*node
	args  []string // extra daemon flags of every node
}

// formCluster starts n appliances and joins them into one cluster the way
// an operator does: the first registers each new node, the new node joins
// with the kit and the backup passphrase, and is then unlocked with the
// cluster's unlock passphrase.
func formCluster(t testing.TB, n int, args ...string) *testCluster {
	t.Helper()
	begin := time.Now()
	c := &testCluster{ca: newTestCA(t), args: args}
	first := startNode(t, c.ca, unlockPass, args...)
	ctx := apptest.Context(t)
	if err := first.admin(t).SetBackupPassphrase(ctx, client.PassphraseChange{NewPassphrase: backupPass}); err != nil {
		t.Fatalf("set backup passphrase: %v", err)
	}
	c.nodes = append(c.nodes, first)
	for len(c.nodes) < n {
		c.join(t, startNode(t, c.ca, "joiner-Unlock-"+rand.Text()[:8], args...))
	}
	t.Logf("formed a cluster of %d appliances in %v", n, time.Since(begin).Round(time.Millisecond))
	return c
}

// join registers j through the first node and joins it, then unlocks it.
func (c *testCluster) join(t testing.TB, j *node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	certBefore, err := j.admin(t).TLSCert(ctx)
	if err != nil {
		t.Fatal(err)
	}
	added, err := c.nodes[0].admin(t).AddClusterMember(ctx, []string{j.peerURL()})
	if err != nil {
		t.Fatalf("register %s: %v", j.peer, err)
	}
	err = j.admin(t).JoinCluster(ctx, client.ClusterJoinRequest{Members: added.Members, JoinerKit: added.JoinerKit, BackupPassphrase: backupPass})
	if err != nil {
		t.Fatalf("join %s: %v\n%s", j.peer, err, j.Logs())
	}
	waitStateWithin(t, j.Daemon, "Locked", 30*time.Second)
	if err := j.Client("", "").Unlock(ctx, unlockPass); err != nil {
		t.Fatalf("unlock the joined node with the cluster's passphrase: %v", err)
	}
	// Node-local configuration survives the join: the node keeps its own
	// TLS identity (the certificate its peers know it by).
	if certAfter, err := j.admin(t).TLSCert(ctx); err != nil || !bytes.Equal(certAfter, certBefore) {
		t.Fatalf("the joined node's TLS certificate changed in the join (%v)", err)
	}
	c.nodes = append(c.nodes, j)
}
