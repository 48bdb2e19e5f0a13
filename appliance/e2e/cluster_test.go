package e2e

import (
	"bytes"
	"crypto"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/keywarden/keywarden/appliance/apptest"
	"github.com/keywarden/keywarden/appliance/client"
)

// TestCluster runs three real appliances on loopback through a cluster's
// life: joined through the API, every node serving every key, a node crash
// costing no acknowledged write, quorum loss and its automatic end, and
// force-new after a permanent loss.
func TestCluster(t *testing.T) {
	c := formCluster(t, 3)
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	ctx := apptest.Context(t)

	members, err := n2.admin(t).ClusterMembers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var urls []string
	for _, m := range members {
		if m.Learner {
			t.Errorf("member %s is still a learner after its join returned", m.ID)
		}
		urls = append(urls, m.URLs...)
	}
	slices.Sort(urls)
	want := []string{n1.peerURL(), n2.peerURL(), n3.peerURL()}
	slices.Sort(want)
	if !slices.Equal(urls, want) {
		t.Fatalf("members seen from node 2: got %v, want %v", urls, want)
	}

	// A key generated on node 1 signs on node 3; an operator created on
	// node 1 authenticates on node 3.
	admin1 := n1.admin(t)
	if err := admin1.AddUser(ctx, "op1", client.NewUser{RealName: "Op", Role: "Operator", Passphrase: operatorPass}); err != nil {
		t.Fatal(err)
	}
	sc := signCases()[0]
	sc.gen.ID = "k1"
	sc.id = "k1"
	if _, err := admin1.GenerateKey(ctx, sc.gen); err != nil {
		t.Fatal(err)
	}
	signAndVerify(t, n3.Client("op1", operatorPass), admin1, sc)

	// Used on node 1 (so it is cached there), deleted on node 2: node 1
	// refuses it at once.
	op1 := n1.Client("op1", operatorPass)
	signAndVerify(t, op1, admin1, sc)
	if err := n2.admin(t).DeleteKey(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	_, err = op1.Sign(ctx, "k1", client.SignRequest{Mode: sc.mode, Message: sc.msg()})
	wantStatus(t, "sign on node 1 right after the delete on node 2", err, http.StatusNotFound)

	// kill -9 one voter: the other two keep a quorum and keep writing.
	n3.Kill()
	sc.gen.ID, sc.id = "k2", "k2"
	if _, err := n2.admin(t).GenerateKey(apptest.Context(t), sc.gen); err != nil {
		t.Fatalf("write with one of three members down: %v", err)
	}
	signAndVerify(t, op1, admin1, sc)

	// A second loss: the survivor has no quorum and says so.
	n2.Kill()
	took := waitStateWithin(t, n1.Daemon, "Failed", 20*time.Second)
	t.Logf("node 1 entered Failed %v after losing its quorum", took.Round(time.Millisecond))
	if took > 15*time.Second {
		t.Errorf("Failed came %v after the quorum was lost, want ≤ 15 s", took)
	}
	_, err = op1.Sign(apptest.Context(t), "k2", client.SignRequest{Mode: sc.mode, Message: sc.msg()})
	wantStatus(t, "sign without quorum", err, http.StatusPreconditionFailed)

	// Quorum back: node 1 returns to Operational by itself, with the write
	// acknowledged while node 3 was down.
	n2.Start()
	n3.Start()
	waitStateWithin(t, n1.Daemon, "Operational", 60*time.Second)
	signAndVerify(t, op1, admin1, sc)
	for _, n := range []*node{n2, n3} {
		waitStateWithin(t, n.Daemon, "Locked", 60*time.Second)
		if err := n.Client("", "").Unlock(apptest.Context(t), unlockPass); err != nil {
			t.Fatalf("unlock restarted node: %v", err)
		}
		signAndVerify(t, n.Client("op1", operatorPass), admin1, sc)
	}

	// Permanent loss of two members: force-new makes node 1 a cluster of
	// one with its data, authenticated by the last unlock passphrase node 1
	// knew, which was changed on node 2.
	const newUnlock = "unlock-Passphrase-changed-on-node-2"
	slotCopy := filepath.Join(n1.DataDir, "unlock-slot.json")
	before, err := os.ReadFile(slotCopy)
	if err != nil {
		t.Fatal(err)
	}
	if err := n2.admin(t).SetUnlockPassphrase(apptest.Context(t), client.PassphraseChange{CurrentPassphrase: unlockPass, NewPassphrase: newUnlock}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if now, _ := os.ReadFile(slotCopy); !bytes.Equal(now, before) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("node 1 did not refresh its copy of the unlock slot after the change on node 2")
		}
	}
	n2.Kill()
	n3.Kill()
	waitStateWithin(t, n1.Daemon, "Failed", 20*time.Second)
	wantStatus(t, "force-new without credentials", n1.Client("", "").ForceNewCluster(apptest.Context(t)), http.StatusUnauthorized)
	wantStatus(t, "force-new with a wrong passphrase", n1.Client("admin", "wrong-passphrase-1").ForceNewCluster(apptest.Context(t)), http.StatusUnauthorized)
	wantStatus(t, "force-new with the replaced passphrase", n1.Client("admin", unlockPass).ForceNewCluster(apptest.Context(t)), http.StatusUnauthorized)
	if err := n1.Client("admin", newUnlock).ForceNewCluster(apptest.Context(t)); err != nil {
		t.Fatalf("force-new: %v", err)
	}
	waitStateWithin(t, n1.Daemon, "Operational", 30*time.Second)
	signAndVerify(t, op1, admin1, sc)
	if members, err := admin1.ClusterMembers(apptest.Context(t)); err != nil || len(members) != 1 {
		t.Fatalf("members after force-new: got %v, %v; want node 1 alone", members, err)
	}
	sc.gen.ID = "k3"
	if _, err := admin1.GenerateKey(apptest.Context(t), sc.gen); err != nil {
		t.Fatalf("write after force-new: %v", err)
	}
}

// TestClusterJoinRefused checks that a join the joiner cannot complete
// leaves it exactly as it was: wrong backup passphrase, a kit that was
// altered, members that do not match the kit.
func TestClusterJoinRefused(t *testing.T) {
	c := formCluster(t, 1)
	ctx := apptest.Context(t)
	j := startNode(t, c.ca, "joiner-Unlock-1")
	jadmin := j.admin(t)
	sc := signCases()[0]
	sc.gen.ID, sc.id = "mine", "mine"
	if _, err := jadmin.GenerateKey(ctx, sc.gen); err != nil {
		t.Fatal(err)
	}
	before := publicKey(t, jadmin, "mine")

	added, err := c.nodes[0].admin(t).AddClusterMember(ctx, []string{j.peerURL()})
	if err != nil {
		t.Fatal(err)
	}
	req := client.ClusterJoinRequest{Members: added.Members, JoinerKit: added.JoinerKit, BackupPassphrase: "wrong-backup-pass"}
	wantStatus(t, "join with a wrong backup passphrase", jadmin.JoinCluster(ctx, req), http.StatusBadRequest)
	altered := req
	altered.BackupPassphrase = backupPass
	altered.JoinerKit = added.JoinerKit[:len(added.JoinerKit)-8] + "AAAAAAA="
	wantStatus(t, "join with an altered kit", jadmin.JoinCluster(ctx, altered), http.StatusBadRequest)
	other := req
	other.BackupPassphrase = backupPass
	other.Members = added.Members[:1]
	wantStatus(t, "join with members that differ from the kit", jadmin.JoinCluster(ctx, other), http.StatusBadRequest)

	if st, err := j.Client("", "").State(ctx); err != nil || st != "Operational" {
		t.Fatalf("joiner after refused joins: got %q, %v; want Operational", st, err)
	}
	if got := publicKey(t, jadmin, "mine"); !publicKeysEqual(got, before) {
		t.Fatal("the joiner's own key changed after refused joins")
	}
	if members, err := jadmin.ClusterMembers(ctx); err != nil || len(members) != 1 {
		t.Fatalf("joiner's members after refused joins: %v, %v", members, err)
	}

	// A second learner while one is pending: 409. Removing the pending one
	// frees the slot.
	_, err = c.nodes[0].admin(t).AddClusterMember(ctx, []string{"https://127.0.0.1:1"})
	wantStatus(t, "a second learner", err, http.StatusConflict)
	var learner string
	for _, m := range added.Members {
		if m.Learner {
			learner = m.ID
		}
	}
	if err := c.nodes[0].admin(t).RemoveClusterMember(ctx, learner); err != nil {
		t.Fatalf("remove the learner: %v", err)
	}
	wantStatus(t, "remove an unknown member", c.nodes[0].admin(t).RemoveClusterMember(ctx, learner), http.StatusNotFound)
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}

// TestClusterClockSkew sets one appliance's clock two seconds ahead: the
// other's cluster status raises the skew alarm, and clears it once the
// clocks agree again.
func TestClusterClockSkew(t *testing.T) {
	c := formCluster(t, 2)
	n1, n2 := c.nodes[0], c.nodes[1]
	admin1 := n1.admin(t)
	// The reference's time format has whole seconds, so clocks set through
	// it (provisioning) may differ by up to a second, which is a skew;
	// sub-second times set both clocks exactly.
	setTime := func(n *node, at time.Time) {
		t.Helper()
		body := `{"time":"` + at.UTC().Format(time.RFC3339Nano) + `"}`
		r := newRaw(t, n.Daemon, net.IPv4(127, 0, 12, 1)).do(t, rawReq{method: "PUT", path: "/config/time", user: "admin", pass: adminPass, ctype: "application/json", body: body})
		r.want(t, "set time", http.StatusNoContent)
	}
	setTime(n1, time.Now())
	setTime(n2, time.Now())
	if err := admin1.AddUser(apptest.Context(t), "metrics1", client.NewUser{RealName: "M", Role: "Metrics", Passphrase: operatorPass}); err != nil {
		t.Fatal(err)
	}
	alarm := func(want bool) {
		t.Helper()
		var st client.ClusterStatus
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			var err error
			if st, err = admin1.ClusterStatus(apptest.Context(t)); err == nil && (len(st.ClockSkewAlarm) > 0) == want {
				return
			}
		}
		t.Fatalf("clock skew alarm on node 1: got %v, want raised=%v (status %+v)", st.ClockSkewAlarm, want, st)
	}
	alarm(false)
	setTime(n2, time.Now().Add(2*time.Second))
	alarm(true)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		m, err := n1.Client("metrics1", operatorPass).Metrics(apptest.Context(t))
		if v, ok := m["clockSkewAlarmMembers"].(float64); err == nil && ok && v >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics while the alarm is raised: %v, %v", m["clockSkewAlarmMembers"], err)
		}
	}
	setTime(n2, time.Now())
	alarm(false)
}
