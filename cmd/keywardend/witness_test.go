package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/appliance/apptest"

	"github.com/keywarden/keywarden/appliance/api"
	"github.com/keywarden/keywarden/cluster"
	"github.com/keywarden/keywarden/cluster/clustertest"
)

// witnessTimeout bounds every wait on the cluster: elections and catch-up
// take seconds on a loaded two-core machine.
const witnessTimeout = 30 * time.Second

// TestWitnessVotesAndKeepsQuorum joins a witness to a two-member cluster,
// checks that its vote keeps the cluster writable with one appliance down,
// and restarts it from its data dir alone.
func TestWitnessVotesAndKeepsQuorum(t *testing.T) {
	c := clustertest.StartCluster(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 3*witnessTimeout)
	defer cancel()
	addr := clustertest.PeerAddr(t)
	learner, members, err := c.Members[0].AddLearner(ctx, []string{"https://" + addr})
	if err != nil {
		t.Fatalf("register the witness: %v", err)
	}
	peerTLS := c.CA.PeerTLS(t, "127.0.0.1")
	files := writeTLSFiles(t, peerTLS)
	args := append([]string{"witness", "--name", "witness-1", "--data-dir", filepath.Join(t.TempDir(), "witness"),
		"--peer-listen", addr}, files.args()...)

	w := startWitness(t, append(args, "--members-json", writeMembersJSON(t, members)))
	if err := c.Members[0].Promote(ctx, learner.ID); err != nil {
		t.Fatalf("promote the witness: %v", err)
	}
	w.waitLog(t, `"msg":"witness votes"`)
	assertVoter(t, ctx, c.Members[0], learner.ID)

	if err := c.Members[1].Close(); err != nil {
		t.Fatalf("stop node-2: %v", err)
	}
	put(t, ctx, c.Members[0].KV(), "/with-witness")
	w.stop(t)
	logs := w.logs.String()

	w = startWitness(t, args) // no --members-json: it restarts from its data
	w.waitLog(t, `"msg":"witness votes"`)
	put(t, ctx, c.Members[0].KV(), "/witness-restarted") // needs the witness: node-2 is down
	w.stop(t)
	logs += w.logs.String()
	for _, secret := range []string{keyLine(t, peerTLS.Key), "joiner-kit-secret"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the witness logged a secret: %q", secret)
		}
	}
}

// TestWitnessBadInput checks that every bad command line or file is refused
// with an error naming the problem, before the data dir is created.
func TestWitnessBadInput(t *testing.T) {
	dir := t.TempDir()
	ca := clustertest.NewCA(t)
	good := writeTLSFiles(t, ca.PeerTLS(t, "127.0.0.1"))
	foreign := writeTLSFiles(t, clustertest.NewCA(t).PeerTLS(t, "127.0.0.1"))
	serverOnly := writeTLSFiles(t, ca.Issue(t, "127.0.0.1", x509.ExtKeyUsageServerAuth))
	openKey := writeTLSFiles(t, ca.PeerTLS(t, "127.0.0.1"))
	if err := os.Chmod(openKey.key, 0o640); err != nil {
		t.Fatal(err)
	}
	const addr = "127.0.0.1:2380"
	voter := api.ClusterMember{ID: "8e9e05c52164694d", Name: "node-1", URLs: []string{"https://127.0.0.1:2381"}}
	self := api.ClusterMember{ID: "2b", URLs: []string{"https://" + addr}, Learner: true}
	selfVoter, badID, taken := self, self, voter
	selfVoter.Learner, badID.ID, taken.Name = false, "xyz", "witness-1"
	membersFile := func(body string) string {
		f, err := os.CreateTemp(dir, "members-*.json")
		if err == nil {
			_, err = f.WriteString(body)
			err = errors.Join(err, f.Close())
		}
		if err != nil {
			t.Fatal(err)
		}
		return f.Name()
	}
	reg := func(ms ...api.ClusterMember) string {
		data, err := json.Marshal(map[string]any{"members": ms, "joinerKit": "opaque"})
		if err != nil {
			t.Fatal(err)
		}
		return membersFile(string(data))
	}
	valid := reg(voter, self)
	tests := []struct {
		name  string
		files tlsFiles
		extra []string // after the valid flags, so later ones override
		want  []string
	}{
		{"no flags at all", tlsFiles{}, nil, []string{"--name is required", "--data-dir is required", "--key is required", "--ca is required"}},
		{"stray argument", good, []string{"extra"}, []string{"unexpected arguments"}},
		{"bad log level", good, []string{"--log-level", "loud"}, []string{"--log-level"}},
		{"key readable by group", openKey, nil, []string{"mode 0640", "must not be readable by group or others"}},
		{"missing certificate", tlsFiles{cert: filepath.Join(dir, "none.pem"), key: good.key, ca: good.ca}, nil, []string{"none.pem"}},
		{"certificate from another CA", tlsFiles{cert: foreign.cert, key: foreign.key, ca: good.ca}, nil, []string{"not signed by the peer CA"}},
		{"certificate without client auth", serverOnly, nil, []string{"not valid for client authentication"}},
		{"certificate for another address", good, []string{"--peer-listen", "127.0.0.2:2380"}, []string{"does not name the peer address 127.0.0.2"}},
		{"peer listen not an IP", good, []string{"--peer-listen", "localhost:2380"}, []string{"host must be an IP address"}},
		{"bad name", good, []string{"--name", "no spaces"}, []string{`name "no spaces"`}},
		{"first start without members", good, []string{"--members-json", ""}, []string{"--members-json is required"}},
		{"members file missing", good, []string{"--members-json", filepath.Join(dir, "none.json")}, []string{"none.json"}},
		{"members not JSON", good, []string{"--members-json", membersFile("{")}, []string{"want the JSON response of POST /cluster/members"}},
		{"members list, not the response", good, []string{"--members-json", membersFile(`[{"id":"2b"}]`)}, []string{"want the JSON response of POST /cluster/members"}},
		{"no members", good, []string{"--members-json", membersFile(`{"joinerKit":"x"}`)}, []string{`no "members"`}},
		{"no member at this URL", good, []string{"--members-json", reg(voter)}, []string{"no member at https://127.0.0.1:2380"}},
		{"member at this URL votes", good, []string{"--members-json", reg(voter, selfVoter)}, []string{"is a voter, not a learner"}},
		{"bad member ID", good, []string{"--members-json", reg(voter, badID)}, []string{`member ID "xyz"`}},
		{"name taken", good, []string{"--members-json", reg(taken, self)}, []string{`name "witness-1" is taken`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data")
			args := []string{"witness"}
			if tt.files != (tlsFiles{}) {
				args = append(args, "--name", "witness-1", "--data-dir", dataDir, "--peer-listen", addr, "--members-json", valid)
				args = append(args, tt.files.args()...)
			}
			ctx, cancel := context.WithTimeout(context.Background(), witnessTimeout)
			defer cancel()
			var logs apptest.LogBuffer
			err := runContext(ctx, append(args, tt.extra...), &logs)
			for _, want := range tt.want {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("got error %v, want one mentioning %q", err, want)
				}
			}
			if _, serr := os.Stat(dataDir); !errors.Is(serr, os.ErrNotExist) {
				t.Errorf("data dir after a refused start: got %v, want it never created", serr)
			}
		})
	}
}

// tlsFiles are the PEM files of a peer identity.
type tlsFiles struct{ cert, key, ca string }

func (f tlsFiles) args() []string {
	return []string{"--cert", f.cert, "--key", f.key, "--ca", f.ca}
}

// writeTLSFiles writes p to files in a fresh directory, the key with mode
// 0600 as the witness demands.
func writeTLSFiles(t *testing.T, p *cluster.PeerTLS) tlsFiles {
	t.Helper()
	dir := t.TempDir()
	f := tlsFiles{cert: filepath.Join(dir, "peer.crt"), key: filepath.Join(dir, "peer.key"), ca: filepath.Join(dir, "ca.crt")}
	for path, data := range map[string][]byte{f.cert: p.Cert, f.key: p.Key, f.ca: p.CA} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// writeMembersJSON writes members the way POST /cluster/members answers.
func writeMembersJSON(t *testing.T, members []cluster.MemberInfo) string {
	t.Helper()
	out := make([]api.ClusterMember, 0, len(members))
	for _, m := range members {
		out = append(out, api.ClusterMember{ID: cluster.FormatMemberID(m.ID), Name: m.Name, URLs: m.PeerURLs, Learner: m.IsLearner})
	}
	data, err := json.Marshal(map[string]any{"members": out, "joinerKit": "joiner-kit-secret"})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "members.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// keyLine returns a line from the middle of a PEM key, to look for in logs.
func keyLine(t *testing.T, key []byte) string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(string(key)), "\n")
	if len(lines) < 3 {
		t.Fatalf("key PEM has %d lines, want a header, a body and a footer", len(lines))
	}
	return lines[1]
}

// runningWitness is a witness run in-process by runContext.
type runningWitness struct {
	cancel context.CancelFunc
	done   chan error
	logs   *apptest.LogBuffer
}

// startWitness runs the witness with args until stop or the end of the test.
func startWitness(t *testing.T, args []string) *runningWitness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &runningWitness{cancel: cancel, done: make(chan error, 1), logs: &apptest.LogBuffer{}}
	go func() { w.done <- runContext(ctx, args, w.logs) }()
	t.Cleanup(func() {
		cancel()
		<-w.done // closes the member before the cluster's members are closed
	})
	return w
}

// stop stops the witness as SIGTERM would and checks that it exits cleanly.
func (w *runningWitness) stop(t *testing.T) {
	t.Helper()
	w.cancel()
	select {
	case err := <-w.done:
		w.done <- err // for the cleanup
		if err != nil {
			t.Fatalf("witness exited with %v, want a clean stop; logs:\n%s", err, w.logs)
		}
	case <-time.After(witnessTimeout):
		t.Fatalf("witness did not stop within %v", witnessTimeout)
	}
	if !strings.Contains(w.logs.String(), `"msg":"stopped"`) {
		t.Errorf("witness logs lack the final \"stopped\":\n%s", w.logs)
	}
}

// waitLog waits until the witness has logged want, failing if it exits or
// the wait times out.
func (w *runningWitness) waitLog(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(witnessTimeout)
	for !strings.Contains(w.logs.String(), want) {
		select {
		case err := <-w.done:
			w.done <- err
			t.Fatalf("witness exited with %v before logging %s; logs:\n%s", err, want, w.logs)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("witness did not log %s within %v; logs:\n%s", want, witnessTimeout, w.logs)
		}
	}
}

// assertVoter checks that the cluster, as m sees it, counts id as a voter.
func assertVoter(t *testing.T, ctx context.Context, m *cluster.Member, id uint64) {
	t.Helper()
	members, err := m.Members(ctx)
	if err != nil {
		t.Fatalf("list members: %v", err)
	}
	for _, mi := range members {
		if mi.ID == id {
			if mi.IsLearner {
				t.Fatalf("witness %s: got learner, want voter", cluster.FormatMemberID(id))
			}
			return
		}
	}
	t.Fatalf("witness %s: not a member of %v", cluster.FormatMemberID(id), members)
}

// put writes key, retrying while the cluster elects a leader; it fails the
// test if no write succeeds in time.
func put(t *testing.T, ctx context.Context, kv cluster.KV, key string) {
	t.Helper()
	deadline := time.Now().Add(witnessTimeout)
	for {
		_, err := kv.Txn(ctx, nil, []cluster.Op{cluster.Put(key, []byte("v"))})
		switch {
		case err == nil:
			return
		case !errors.Is(err, cluster.ErrUnavailable) || time.Now().After(deadline):
			t.Fatalf("write %s: %v", key, err)
		}
		time.Sleep(100 * time.Millisecond) // a pause between attempts, not an assertion
	}
}
