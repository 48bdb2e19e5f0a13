package e2e

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/appliance/apptest"
	"github.com/keywarden/keywarden/appliance/client"
)

type role string

const (
	Public        role = "Public"
	Administrator role = "Administrator"
	Operator      role = "Operator"
	Metrics       role = "Metrics"
	Backup        role = "Backup"

	Unprovisioned = "Unprovisioned"
	Locked        = "Locked"
	Operational   = "Operational"
	Failed        = "Failed"
)

func roles(r ...role) []role      { return r }
func states(s ...string) []string { return s }
func (e endpoint) public() bool   { return slices.Contains(e.roles, Public) && len(e.roles) == 1 }
func (e endpoint) destructive() bool {
	return (strings.HasPrefix(e.path, "/system/") || e.path == "/cluster/force-new") && e.method == "POST"
}

// endpoint is one row of the reference API: who may call it, in which states,
// and whether callers in a namespace are refused (rootOnly). The rows are the
// reference's x-annotation-role/state/caller-namespace facts, generated from
// nethsm-api.yaml for every endpoint this issue implements.
type endpoint struct {
	method, path string
	roles        []role
	states       []string
	rootOnly     bool
}

var referenceTable = []endpoint{
	{"GET", "/info", roles(Public), states(Locked, Operational, Unprovisioned, Failed), false},
	{"GET", "/health/alive", roles(Public), states(Locked, Unprovisioned), false},
	{"GET", "/health/ready", roles(Public), states(Operational), false},
	{"GET", "/health/state", roles(Public), states(Locked, Operational, Unprovisioned, Failed), false},
	// Administrator while Operational, public otherwise (the reference's annotation lists both).
	{"GET", "/health/diagnose", roles(Administrator, Public), states(Locked, Operational, Unprovisioned, Failed), false},
	{"GET", "/metrics", roles(Metrics), states(Operational), false},
	{"POST", "/provision", roles(Public), states(Unprovisioned), false},
	{"POST", "/unlock", roles(Public), states(Locked), false},
	{"POST", "/lock", roles(Administrator), states(Operational), true},
	{"POST", "/random", roles(Operator), states(Operational), false},
	{"GET", "/keys", roles(Administrator, Operator), states(Operational), false},
	{"POST", "/keys", roles(Administrator), states(Operational), false},
	{"POST", "/keys/generate", roles(Administrator), states(Operational), false},
	{"GET", "/keys/{KeyPrefix}*", roles(Administrator, Operator), states(Operational), false},
	{"GET", "/keys/{KeyID}", roles(Administrator, Operator), states(Operational), false},
	{"PUT", "/keys/{KeyID}", roles(Administrator), states(Operational), false},
	{"DELETE", "/keys/{KeyID}", roles(Administrator), states(Operational), false},
	{"PUT", "/keys/{KeyID}/label", roles(Administrator), states(Operational), false},
	{"DELETE", "/keys/{KeyID}/label", roles(Administrator), states(Operational), false},
	{"GET", "/keys/{KeyID}/public.pem", roles(Administrator, Operator), states(Operational), false},
	{"POST", "/keys/{KeyID}/csr.pem", roles(Administrator, Operator), states(Operational), false},
	{"POST", "/keys/{KeyID}/decrypt", roles(Operator), states(Operational), false},
	{"POST", "/keys/{KeyID}/encrypt", roles(Operator), states(Operational), false},
	{"POST", "/keys/{KeyID}/sign", roles(Operator), states(Operational), false},
	{"GET", "/keys/{KeyID}/cert", roles(Administrator, Operator), states(Operational), false},
	{"PUT", "/keys/{KeyID}/cert", roles(Administrator), states(Operational), false},
	{"DELETE", "/keys/{KeyID}/cert", roles(Administrator), states(Operational), false},
	{"POST", "/keys/{KeyID}/move", roles(Administrator), states(Operational), false},
	{"PUT", "/keys/{KeyID}/restrictions/tags/{Tag}", roles(Administrator), states(Operational), false},
	{"DELETE", "/keys/{KeyID}/restrictions/tags/{Tag}", roles(Administrator), states(Operational), false},
	{"GET", "/namespaces", roles(Administrator), states(Operational), true},
	{"PUT", "/namespaces/{NamespaceID}", roles(Administrator), states(Operational), true},
	{"DELETE", "/namespaces/{NamespaceID}", roles(Administrator), states(Operational), true},
	{"GET", "/users", roles(Administrator), states(Operational), false},
	{"POST", "/users", roles(Administrator), states(Operational), false},
	{"GET", "/users/{UserID}", roles(Administrator, Operator), states(Operational), false},
	{"PUT", "/users/{UserID}", roles(Administrator), states(Operational), false},
	{"POST", "/users/{UserID}", roles(Administrator), states(Operational), false},
	{"DELETE", "/users/{UserID}", roles(Administrator), states(Operational), false},
	{"POST", "/users/{UserID}/passphrase", roles(Administrator, Operator), states(Operational), false},
	{"GET", "/users/{UserID}/tags", roles(Administrator, Operator), states(Operational), false},
	{"PUT", "/users/{UserID}/tags/{Tag}", roles(Administrator), states(Operational), false},
	{"DELETE", "/users/{UserID}/tags/{Tag}", roles(Administrator), states(Operational), false},
	{"PUT", "/config/unlock-passphrase", roles(Administrator), states(Operational), true},
	{"GET", "/config/unattended-boot", roles(Administrator), states(Operational), true},
	{"PUT", "/config/unattended-boot", roles(Administrator), states(Operational), true},
	{"GET", "/config/tls/public.pem", roles(Administrator), states(Operational), true},
	{"GET", "/config/tls/cert.pem", roles(Administrator), states(Operational), true},
	{"PUT", "/config/tls/cert.pem", roles(Administrator), states(Operational), true},
	{"POST", "/config/tls/csr.pem", roles(Administrator), states(Operational), true},
	{"POST", "/config/tls/generate", roles(Administrator), states(Operational), true},
	{"PUT", "/config/backup-passphrase", roles(Administrator), states(Operational), true},
	{"GET", "/config/tls/cluster-ca.pem", roles(Administrator), states(Operational), true},
	{"GET", "/cluster/members", roles(Administrator), states(Operational), true},
	{"POST", "/cluster/members", roles(Administrator), states(Operational), true},
	// Keywarden extension, answered like /health/diagnose.
	{"GET", "/cluster/status", roles(Administrator, Public), states(Locked, Operational, Unprovisioned, Failed), true},
	{"POST", "/cluster/members/{MemberID}/promote", roles(Administrator), states(Operational), true},
	{"PUT", "/cluster/members/{MemberID}", roles(Administrator), states(Operational), true},
	{"DELETE", "/cluster/members/{MemberID}", roles(Administrator), states(Operational), true},
	{"POST", "/cluster/join", roles(Administrator), states(Operational), true},
	// Keywarden extensions: a cluster CA held by the cluster.
	{"POST", "/cluster/ca/generate", roles(Administrator), states(Operational), true},
	{"POST", "/cluster/ca/sign", roles(Administrator), states(Operational), true},
	// The reference authenticates force-new with the unlock passphrase
	// (FailedUnlock), like every destructive action outside Operational.
	{"POST", "/cluster/force-new", roles(Administrator), states(Failed), true},
	{"PUT", "/config/tls/cluster-ca.pem", roles(Administrator), states(Operational), true},
	{"GET", "/config/network", roles(Administrator), states(Operational), true},
	{"PUT", "/config/network", roles(Administrator), states(Operational), true},
	// Keywarden extension: confirm a network configuration on trial.
	{"POST", "/config/network/confirm", roles(Administrator), states(Operational), true},
	{"GET", "/config/logging", roles(Administrator), states(Operational), true},
	{"PUT", "/config/logging", roles(Administrator), states(Operational), true},
	// Keywarden extension: the NTP client.
	{"GET", "/config/ntp", roles(Administrator), states(Operational), true},
	{"PUT", "/config/ntp", roles(Administrator), states(Operational), true},
	{"GET", "/config/time", roles(Administrator), states(Operational), true},
	{"PUT", "/config/time", roles(Administrator), states(Operational), true},
	{"GET", "/system/info", roles(Administrator), states(Operational), true},
	{"POST", "/system/reboot", roles(Administrator), states(Operational, Failed), true},
	// Keywarden deviation: shutdown is authenticated in every state, so an
	// Unprovisioned appliance (which has no credentials) refuses it (412).
	{"POST", "/system/shutdown", roles(Administrator), states(Operational, Locked, Failed), true},
	// Keywarden deviation: factory reset is offered while Locked too,
	// authenticated with the unlock passphrase as in Failed.
	{"POST", "/system/factory-reset", roles(Administrator), states(Operational, Locked, Failed), true},
	{"POST", "/system/backup", roles(Backup), states(Operational), true},
	{"POST", "/system/restore", roles(Administrator, Public), states(Operational, Unprovisioned), true},
}

// sideEffect rows are not called with credentials that would let them run;
// their success paths have their own tests.
func (e endpoint) sideEffect() bool { return e.path == "/lock" || e.destructive() }

// concretePath fills the path parameters with values that exist where that
// keeps the call harmless, and with missing ones where it would destroy.
func (e endpoint) concretePath() string {
	user := "operator1"
	if e.path == "/users/{UserID}" && e.method != "GET" {
		user = "nouser"
	}
	r := strings.NewReplacer("{KeyPrefix}", "nokey", "{KeyID}", "nokey", "{Tag}", "tag1", "{NamespaceID}", "nons", "{UserID}", user, "{MemberID}", "8e9e05c52164694d")
	return r.Replace(e.path)
}

type credential struct {
	name, user, pass string
	role             role
	namespaced       bool
}

var matrixUsers = []credential{
	{"admin", "admin", adminPass, Administrator, false},
	{"operator", "operator1", operatorPass, Operator, false},
	{"metrics", "metrics1", operatorPass, Metrics, false},
	{"backup", "backup1", operatorPass, Backup, false},
	{"namespace admin", "ns1~admin", operatorPass, Administrator, true},
}

// matrix sends requests from many loopback source addresses so that the
// deliberate wrong-passphrase probes never trip the per-address rate limit.
type matrix struct {
	t      *testing.T
	d      *apptest.Daemon
	nextIP int
}

func (m *matrix) do(e endpoint, user, pass string) int {
	m.t.Helper()
	m.nextIP++
	local := &net.TCPAddr{IP: net.IPv4(127, 0, byte(1+m.nextIP/250), byte(1+m.nextIP%250))}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		DialContext:     (&net.Dialer{LocalAddr: local}).DialContext,
	}}
	defer hc.CloseIdleConnections()
	var body io.Reader
	req, _ := http.NewRequest(e.method, m.d.URL+e.concretePath(), body)
	if e.method == "POST" || e.method == "PUT" {
		req, _ = http.NewRequest(e.method, m.d.URL+e.concretePath(), strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" || pass != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := hc.Do(req)
	if err != nil {
		m.t.Fatalf("%s %s: %v", e.method, e.path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 && !strings.Contains(string(b), `"message"`) {
		m.t.Errorf("%s %s: status %d without a JSON message: %q", e.method, e.path, resp.StatusCode, b)
	}
	return resp.StatusCode
}

// stateReason reads the Keywarden "reason" extension of /health/state.
func stateReason(t testing.TB, d *apptest.Daemon) string {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get(d.URL + "/health/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ State, Reason string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return body.Reason
}

func admitted(status int) bool {
	return status != 401 && status != 403 && status != 412 && status != 429 && status < 500
}

// check runs every row in state and compares each status with the table.
func (m *matrix) check(state string) {
	for _, e := range referenceTable {
		name := fmt.Sprintf("%s/%s %s", state, e.method, e.path)
		m.t.Run(name, func(t *testing.T) {
			if !slices.Contains(e.states, state) {
				if got := m.do(e, "", ""); got != 412 {
					t.Errorf("anonymous: got %d, want 412", got)
				}
				return
			}
			if e.public() || (state != Operational && slices.Contains(e.roles, Public)) {
				if got := m.do(e, "", ""); !admitted(got) {
					t.Errorf("anonymous on a public endpoint: got %d, want it admitted", got)
				}
				return
			}
			if got := m.do(e, "", ""); got != 401 {
				t.Errorf("anonymous: got %d, want 401", got)
			}
			if got := m.do(e, "admin", "wrong-passphrase-0"); got != 401 {
				t.Errorf("wrong passphrase: got %d, want 401", got)
			}
			if state != Operational {
				return // only the unlock passphrase authenticates here (own test)
			}
			for _, c := range matrixUsers {
				allowed := slices.Contains(e.roles, c.role) && !(e.rootOnly && c.namespaced)
				if allowed && e.sideEffect() {
					continue
				}
				got := m.do(e, c.user, c.pass)
				if allowed && !admitted(got) {
					t.Errorf("%s: got %d, want it admitted", c.name, got)
				}
				if !allowed && got != 403 {
					t.Errorf("%s: got %d, want 403", c.name, got)
				}
			}
		})
	}
}

// TestRoleStateMatrix checks every endpoint, in every state, with every role
// and without credentials, against the reference's annotations.
func TestRoleStateMatrix(t *testing.T) {
	d := apptest.Start(t, apptest.Options{})
	m := &matrix{t: t, d: d}
	m.check(Unprovisioned)

	provision(t, d)
	ctx := apptest.Context(t)
	admin := d.Client("admin", adminPass)
	for _, c := range matrixUsers[1:] {
		if err := admin.AddUser(ctx, c.user, client.NewUser{RealName: c.name, Role: client.UserRole(c.role), Passphrase: c.pass}); err != nil {
			t.Fatalf("add %s: %v", c.name, err)
		}
	}
	if err := admin.AddNamespace(ctx, "ns1"); err != nil {
		t.Fatalf("add namespace: %v", err)
	}
	m.check(Operational)
	if running, _ := diagnose(t, d, "admin", adminPass); !running {
		t.Error("diagnose while Operational: got running false, want the store member running")
	}

	if err := admin.Lock(ctx); err != nil {
		t.Fatalf("lock: %v", err)
	}
	m.check(Locked)

	d.Stop()
	if err := os.WriteFile(filepath.Join(d.DataDir, "device-key.sealed"), []byte("not a sealed blob"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.Restart()
	if st, err := d.Client("", "").State(apptest.Context(t)); err != nil || st != Failed {
		t.Fatalf("state with a broken device key: got %q, %v; want Failed", st, err)
	}
	if reason := stateReason(t, d); !strings.Contains(reason, "device key") {
		t.Errorf("Failed reason in /health/state: got %q, want it to name the device key", reason)
	}
	m.check(Failed)
	// force-new heals only a lost quorum, not a broken device key.
	wantStatus(t, "force-new on a node Failed for another reason", d.Client("admin", unlockPass).ForceNewCluster(apptest.Context(t)), http.StatusPreconditionFailed)
	if running, logs := diagnose(t, d, "", ""); running || logs == nil {
		t.Errorf("diagnose in Failed before the store started: got running %v, logs %v; want false and a list", running, logs)
	}
}

// diagnose reads /health/diagnose.
func diagnose(t *testing.T, d *apptest.Daemon, user, pass string) (bool, []map[string]string) {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer hc.CloseIdleConnections()
	req, _ := http.NewRequest("GET", d.URL+"/health/diagnose", nil)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("diagnose: got %s, want 200", resp.Status)
	}
	var body struct {
		ClusterLogs  []map[string]string    `json:"clusterLogs"`
		ClusterState struct{ Running bool } `json:"clusterState"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return body.ClusterState.Running, body.ClusterLogs
}
