package e2e

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/appliance/apptest"
	"github.com/keywarden/keywarden/appliance/client"
	"github.com/keywarden/keywarden/netcfg/netcfgtest"
)

// TestClusterPeerMoves changes the address of a cluster member through PUT
// /config/network: the member moves its peer URL with it, the cluster's CA
// certifies the new address, and the cluster keeps replicating through the
// new address, also after the member restarts. Both appliances run in a
// network namespace of their own; node 2 manages the interface its peers
// reach it on.
func TestClusterPeerMoves(t *testing.T) {
	b := &netBed{app: netcfgtest.NewNS(t), lan: netcfgtest.NewNS(t)}
	netcfgtest.Veth(t, b.app, netIface, b.lan, netPeer)
	netcfgtest.AddAddr(t, b.lan, netPeer, netGW4+"/24")
	netcfgtest.AddAddr(t, b.app, netIface, "10.99.0.2/24")
	b.h = netcfgtest.Handle(t, b.app)
	ctx := apptest.Context(t)

	n1 := b.startPeer(t, "127.0.0.1", unlockPass)
	n2 := b.startPeer(t, "10.99.0.2", "joiner-Unlock-move", "--interface", netIface)
	admin1, admin2 := n1.admin(t), n2.admin(t)
	caPEM, err := admin1.GenerateClusterCA(ctx)
	if err != nil {
		t.Fatalf("generate the cluster CA: %v", err)
	}
	csr, err := admin2.TLSCSR(ctx, client.DistinguishedName{CommonName: "node2"})
	if err != nil {
		t.Fatal(err)
	}
	chain, err := admin1.SignPeerCSR(ctx, client.ClusterSignRequest{CSR: string(csr), IPAddresses: []string{"10.99.0.2"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := admin2.SetTLSCert(ctx, chain); err != nil {
		t.Fatal(err)
	}
	if err := admin2.SetClusterCA(ctx, caPEM); err != nil {
		t.Fatal(err)
	}
	if err := admin1.SetBackupPassphrase(ctx, client.PassphraseChange{NewPassphrase: backupPass}); err != nil {
		t.Fatal(err)
	}
	c := &testCluster{nodes: []*node{n1}}
	c.join(t, n2)

	moved := client.NetworkConfig{IPAddress: "10.99.0.7", Netmask: "255.255.255.0", Gateway: netGW4}
	_, err = admin2.TryNetwork(ctx, moved, 60*time.Second)
	wantStatus(t, "try a change that moves the peer address", err, http.StatusPreconditionFailed)
	if got := b.kernel(t); got != "10.99.0.2/24" {
		t.Fatalf("a refused try changed the interface: %q", got)
	}

	if err := admin2.SetNetwork(ctx, moved); err != nil {
		t.Fatalf("move node 2 to 10.99.0.7: %v", err)
	}
	newURL := "https://" + net.JoinHostPort("10.99.0.7", portOf(t, n2.peer))
	// The cluster records the new URL before the change is answered.
	if got := memberURLs(t, admin1); !slices.Contains(got, newURL) {
		t.Fatalf("members after the move: %v, want node 2 at %s", got, newURL)
	}
	b.waitKernel(t, "10.99.0.7/24 default-via-"+netGW4, 10*time.Second)
	waitAllReady(t, admin1, 2, 30*time.Second)
	assertCertNames(t, admin2, "10.99.0.7", "10.99.0.2")
	replicates(t, n1, n2, "moved")

	n2.Restart()
	waitStateWithin(t, n2.Daemon, "Locked", 30*time.Second)
	if err := n2.Client("", "").Unlock(ctx, unlockPass); err != nil {
		t.Fatalf("unlock node 2 after its restart: %v", err)
	}
	if !strings.Contains(n2.Logs(), "network change moved this node to") {
		t.Errorf("node 2 did not report listening on its moved peer address after the restart")
	}
	waitAllReady(t, admin1, 2, 30*time.Second)
	replicates(t, n1, n2, "restarted")
}

// startPeer starts a provisioned appliance inside app whose peers reach it
// at host.
func (b *netBed) startPeer(t *testing.T, host, unlock string, args ...string) *node {
	t.Helper()
	peer := net.JoinHostPort(host, portOf(t, apptest.FreeAddr(t)))
	d := apptest.Start(t, apptest.Options{
		Args:  append([]string{"--peer-listen", peer}, args...),
		Spawn: func(cmd *exec.Cmd) error { return netcfgtest.Do(b.app, cmd.Start) },
		Dial:  b.dialApp,
	})
	err := d.Client("", "").Provision(apptest.Context(t), client.ProvisionRequest{UnlockPassphrase: unlock, AdminPassphrase: adminPass, SystemTime: time.Now().UTC()})
	if err != nil {
		t.Fatalf("provision: %v", err)
	}
	return &node{Daemon: d, peer: peer}
}

// dialApp opens a connection from inside app.
func (b *netBed) dialApp(ctx context.Context, network, addr string) (conn net.Conn, err error) {
	err = netcfgtest.Do(b.app, func() error {
		conn, err = (&net.Dialer{}).DialContext(ctx, network, addr)
		return err
	})
	return conn, err
}

func portOf(t *testing.T, hostPort string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func memberURLs(t *testing.T, admin *client.Client) []string {
	t.Helper()
	members, err := admin.ClusterMembers(apptest.Context(t))
	if err != nil {
		t.Fatal(err)
	}
	var urls []string
	for _, m := range members {
		urls = append(urls, m.URLs...)
	}
	return urls
}

// waitAllReady waits until admin's node reports n members, all ready.
func waitAllReady(t *testing.T, admin *client.Client, n int, limit time.Duration) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		st, err := admin.ClusterStatus(apptest.Context(t))
		if err != nil {
			last = err.Error()
			continue
		}
		ready := 0
		var states []string
		for _, m := range st.Members {
			states = append(states, m.ID+"="+m.State)
			if m.State == "ready" {
				ready++
			}
		}
		if len(st.Members) == n && ready == n {
			return
		}
		last = fmt.Sprint(states)
	}
	t.Fatalf("cluster not all ready within %v: %s", limit, last)
}

// assertCertNames checks that the node's certificate names both addresses
// (the old one stays named, in case the node comes back on it).
func assertCertNames(t *testing.T, admin *client.Client, want, old string) {
	t.Helper()
	chain, err := admin.TLSCert(apptest.Context(t))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(firstPEM(t, chain))
	if err != nil {
		t.Fatal(err)
	}
	if leaf.VerifyHostname(want) != nil || leaf.VerifyHostname(old) != nil {
		t.Fatalf("certificate names %v, want %s and %s", leaf.IPAddresses, want, old)
	}
}

// replicates generates a key on from and signs with it on to.
func replicates(t *testing.T, from, to *node, id string) {
	t.Helper()
	sc := signCases()[0]
	sc.gen.ID, sc.id = id, id
	if _, err := from.admin(t).GenerateKey(apptest.Context(t), sc.gen); err != nil {
		t.Fatalf("generate %s: %v", id, err)
	}
	if err := to.admin(t).AddUser(apptest.Context(t), "op-"+id, client.NewUser{RealName: "Op", Role: "Operator", Passphrase: operatorPass}); err != nil {
		t.Fatalf("add an operator on the other node: %v", err)
	}
	signAndVerify(t, to.Client("op-"+id, operatorPass), from.admin(t), sc)
}

// TestClusterCertRenewal installs a new certificate for a clustered node's
// key: accepted when it still authenticates the node to its peers (the
// store member restarts to present it), refused when it would not.
func TestClusterCertRenewal(t *testing.T) {
	c := formCluster(t, 2)
	n1, n2 := c.nodes[0], c.nodes[1]
	ctx := apptest.Context(t)
	admin2 := n2.admin(t)
	pub := tlsPublicKey(t, admin2)

	err := admin2.SetTLSCert(ctx, newTestCA(t).issuePeer(t, pub))
	wantStatus(t, "a certificate from another CA", err, http.StatusPreconditionFailed)
	err = admin2.SetTLSCert(ctx, c.ca.issue(t, pub, x509.ExtKeyUsageServerAuth))
	wantStatus(t, "a certificate without client authentication", err, http.StatusPreconditionFailed)
	err = admin2.GenerateTLSKey(ctx, client.TLSKeyGenerateRequest{Type: "EC_P256"})
	wantStatus(t, "a new TLS key", err, http.StatusPreconditionFailed)
	waitAllReady(t, n1.admin(t), 2, 30*time.Second)

	renewed := c.ca.issuePeer(t, pub)
	if err := admin2.SetTLSCert(ctx, renewed); err != nil {
		t.Fatalf("renew node 2's certificate: %v\n%s", err, n2.Logs())
	}
	got, err := admin2.TLSCert(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if gotLeaf, wantLeaf := firstPEM(t, got), firstPEM(t, renewed); !bytes.Equal(gotLeaf, wantLeaf) {
		t.Fatal("node 2 does not serve the renewed certificate")
	}
	waitAllReady(t, n1.admin(t), 2, 30*time.Second)
	replicates(t, n1, n2, "renewed")
	n2.Restart()
	waitStateWithin(t, n2.Daemon, "Locked", 30*time.Second)
	waitAllReady(t, n1.admin(t), 2, 30*time.Second)
}

// firstPEM returns the bytes of the first PEM block in data.
func firstPEM(t *testing.T, data []byte) []byte {
	t.Helper()
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("not PEM: %q", data)
	}
	return block.Bytes
}

// tlsPublicKey returns the public key of the node's TLS key.
func tlsPublicKey(t *testing.T, admin *client.Client) any {
	t.Helper()
	p, err := admin.TLSPublicPEM(apptest.Context(t))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.ParsePKIXPublicKey(firstPEM(t, p))
	if err != nil {
		t.Fatal(err)
	}
	return pub
}
