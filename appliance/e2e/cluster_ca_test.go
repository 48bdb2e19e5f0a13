package e2e

import (
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"testing"
	"time"

	"github.com/keywarden/keywarden/appliance/apptest"
	"github.com/keywarden/keywarden/appliance/client"
)

// TestClusterHeldCA forms a cluster with a CA the cluster holds: the first
// node generates it, and certifies the joiner through the API; no CA key
// exists outside the cluster.
func TestClusterHeldCA(t *testing.T) {
	ctx := apptest.Context(t)
	start := func(unlock string) *node {
		peer := apptest.FreeAddr(t)
		n := &node{Daemon: apptest.Start(t, apptest.Options{Args: []string{"--peer-listen", peer}}), peer: peer}
		err := n.Client("", "").Provision(ctx, client.ProvisionRequest{UnlockPassphrase: unlock, AdminPassphrase: adminPass, SystemTime: time.Now().UTC()})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	n1, j := start(unlockPass), start("joiner-Unlock-ca")
	admin1, jadmin := n1.admin(t), j.admin(t)

	_, err := admin1.SignPeerCSR(ctx, client.ClusterSignRequest{CSR: "x", IPAddresses: []string{"127.0.0.1"}})
	wantStatus(t, "sign a malformed CSR", err, http.StatusBadRequest)
	caPEM, err := admin1.GenerateClusterCA(ctx)
	if err != nil {
		t.Fatalf("generate the cluster CA: %v", err)
	}
	_, err = admin1.GenerateClusterCA(ctx)
	wantStatus(t, "generate a second cluster CA", err, http.StatusConflict)
	if got, err := admin1.ClusterCA(ctx); err != nil || string(got) != string(caPEM) {
		t.Fatalf("cluster CA after generate: %v", err)
	}

	csrPEM, err := jadmin.TLSCSR(ctx, client.DistinguishedName{CommonName: "joiner"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = admin1.SignPeerCSR(ctx, client.ClusterSignRequest{CSR: string(csrPEM)})
	wantStatus(t, "sign without an address", err, http.StatusBadRequest)
	chain, err := admin1.SignPeerCSR(ctx, client.ClusterSignRequest{CSR: string(csrPEM), IPAddresses: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatalf("sign the joiner's CSR: %v", err)
	}
	block, _ := pem.Decode(chain)
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if len(leaf.ExtKeyUsage) != 2 || len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].IsLoopback() {
		t.Fatalf("issued certificate: usages %v, IPs %v; want server+client auth for 127.0.0.1", leaf.ExtKeyUsage, leaf.IPAddresses)
	}
	if err := jadmin.SetTLSCert(ctx, chain); err != nil {
		t.Fatal(err)
	}
	if err := jadmin.SetClusterCA(ctx, caPEM); err != nil {
		t.Fatal(err)
	}
	// The joiner's own (operator-set) CA has no key in its cluster: it
	// cannot sign.
	_, err = jadmin.SignPeerCSR(ctx, client.ClusterSignRequest{CSR: string(csrPEM), IPAddresses: []string{"127.0.0.1"}})
	wantStatus(t, "sign with a CA set from outside", err, http.StatusPreconditionFailed)

	if err := admin1.SetBackupPassphrase(ctx, client.PassphraseChange{NewPassphrase: backupPass}); err != nil {
		t.Fatal(err)
	}
	c := &testCluster{nodes: []*node{n1}}
	c.join(t, j)
	// After the join the joiner shares the cluster's CA key and can certify
	// the next node.
	if _, err := jadmin.SignPeerCSR(apptest.Context(t), client.ClusterSignRequest{CSR: string(csrPEM), IPAddresses: []string{"127.0.0.1"}}); err != nil {
		t.Fatalf("sign on the joined node: %v", err)
	}
}
