package e2e

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net"
	"testing"

	"github.com/keywarden/keywarden/appliance/apptest"
	"github.com/keywarden/keywarden/appliance/client"
)

// TestClusterCA sets the cluster CA the way an operator prepares a cluster:
// the node's certificate is signed by the CA first, then the CA is installed.
func TestClusterCA(t *testing.T) {
	d := apptest.Start(t, apptest.Options{})
	provision(t, d)
	ctx := apptest.Context(t)
	admin := d.Client("admin", adminPass)
	raw := newRaw(t, d, net.IPv4(127, 0, 9, 1))
	get := rawReq{method: "GET", path: "/config/tls/cluster-ca.pem", user: "admin", pass: adminPass}
	put := func(body []byte) rawReq {
		return rawReq{method: "PUT", path: "/config/tls/cluster-ca.pem", user: "admin", pass: adminPass, ctype: "application/x-pem-file", body: string(body)}
	}
	raw.do(t, get).want(t, "cluster CA before one is set", 404)
	members := raw.do(t, rawReq{method: "GET", path: "/cluster/members", user: "admin", pass: adminPass})
	members.want(t, "members of a lone appliance", 200)
	var list []struct {
		ID      string   `json:"id"`
		URLs    []string `json:"urls"`
		Learner bool     `json:"learner"`
	}
	if err := json.Unmarshal(members.body, &list); err != nil || len(list) != 1 || list[0].ID == "" || list[0].Learner || len(list[0].URLs) != 0 {
		t.Fatalf("members of a lone appliance: got %s (%v), want one voting member without peer URLs", members.body, err)
	}

	ca := newTestCA(t)
	raw.do(t, put(ca.pem)).want(t, "a CA that does not sign the node's certificate", 400)
	leafOnly := ca.issue(t, ca.key.Public())
	block, _ := pem.Decode(leafOnly)
	raw.do(t, put(pem.EncodeToMemory(block))).want(t, "a certificate that is not a CA", 400)
	raw.do(t, put([]byte("not PEM"))).want(t, "garbage", 400)
	wrongType := put(ca.pem)
	wrongType.ctype = "application/json"
	raw.do(t, wrongType).want(t, "wrong Content-Type", 415)

	csrPEM, err := admin.TLSCSR(ctx, client.DistinguishedName{CommonName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	csrBlock, _ := pem.Decode(csrPEM)
	csr, err := x509.ParseCertificateRequest(csrBlock.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.SetTLSCert(ctx, ca.issue(t, csr.PublicKey)); err != nil {
		t.Fatalf("install the CA-signed node certificate: %v", err)
	}
	raw.do(t, put(ca.pem)).want(t, "the CA that signs the node's certificate", 201)
	got := raw.do(t, get)
	got.want(t, "cluster CA after it is set", 200)
	if !bytes.Equal(got.body, ca.pem) {
		t.Fatalf("cluster CA: got %q, want the PEM that was set", got.body)
	}
	d.Restart()
	if err := d.Client("", "").Unlock(apptest.Context(t), unlockPass); err != nil {
		t.Fatal(err)
	}
	if got := raw.do(t, get); !bytes.Equal(got.body, ca.pem) {
		t.Fatalf("cluster CA after a restart: got %d %q", got.status, got.body)
	}
}
