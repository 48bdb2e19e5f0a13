package e2e

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/keywarden/keywarden/appliance/apptest"
	"github.com/keywarden/keywarden/netcfg/netcfgtest"
)

// netConfig is the wire form of /config/network, spelled out here rather
// than borrowed from the server, so that a change to the JSON shows.
type netConfig struct {
	IPAddress string      `json:"ipAddress"`
	Netmask   string      `json:"netmask"`
	Gateway   string      `json:"gateway"`
	IPv6      *netConfig6 `json:"ipv6,omitempty"`
}

type netConfig6 struct {
	CIDR    string `json:"cidr"`
	Gateway string `json:"gateway,omitempty"`
}

// String is c's JSON, for requests and for "got X, want Y".
func (c netConfig) String() string {
	b, _ := json.Marshal(c)
	return string(b)
}

// tryStarted is the 202 answer to a try-mode PUT.
type tryStarted struct {
	TryID    string    `json:"tryId"`
	Deadline time.Time `json:"deadline"`
}

const (
	ip2, ip3, ip4 = "10.99.0.2", "10.99.0.3", "10.99.0.4"
	ip6           = "fd00::2"
	mask24        = "255.255.255.0"
)

var (
	cfg2  = netConfig{IPAddress: ip2, Netmask: mask24, Gateway: netGW4}
	cfg3  = netConfig{IPAddress: ip3, Netmask: mask24, Gateway: netGW4}
	cfg4  = netConfig{IPAddress: ip4, Netmask: mask24, Gateway: netGW4}
	cfg36 = netConfig{IPAddress: ip3, Netmask: mask24, Gateway: netGW4, IPv6: &netConfig6{CIDR: ip6 + "/64", Gateway: netGW6}}
)

// Kernel states (see netBed.kernel) that go with the configs.
const (
	kernel2  = "10.99.0.2/24 default-via-10.99.0.1"
	kernel3  = "10.99.0.3/24 default-via-10.99.0.1"
	kernel4  = "10.99.0.4/24 default-via-10.99.0.1"
	kernel36 = "10.99.0.3/24 default-via-10.99.0.1 default-via-fd00::1 fd00::2/64"
)

// netRun is one TestNetworkConfig: the testbed, the daemon, and clients
// in lan from the gateway address (same subnet) and from the remote
// addresses (answers need the appliance's default route).
type netRun struct {
	b                       *netBed
	d                       *apptest.Daemon
	direct, remote, remote6 *nsClient
}

// TestNetworkConfig drives /config/network of a real keywardend that runs in
// its own network namespace and manages a real veth: every change is checked
// in the kernel with netlink and by real traffic to the API.
func TestNetworkConfig(t *testing.T) {
	b := newNetBed(t)
	r := &netRun{b: b, direct: newNSClient(t, b.lan, netGW4), remote: newNSClient(t, b.lan, netRemote4), remote6: newNSClient(t, b.lan, netRemote6)}
	d := b.start(t, r.direct, ip2)
	r.d = d
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("keywardend log:\n%s", d.Logs())
		}
	})
	r.direct.provisionAt(t, ip2)

	// Before any PUT the appliance reports what the installer set, and
	// leaves it alone.
	r.wantGet(t, r.direct, ip2, netConfig{IPAddress: ip2, Netmask: mask24, Gateway: "0.0.0.0"})
	if got := b.kernel(t); got != "10.99.0.2/24" {
		t.Fatalf("kernel before the first PUT: got %q, want the hand-made 10.99.0.2/24 only", got)
	}

	r.put(t, ip2, cfg2, kernel2)
	r.invalid(t)
	r.drift(t)
	r.tryConfirmed(t)
	r.tryExpired(t)
	r.put(t, ip3, cfg36, kernel36)
	r.remote6.waitServing(t, d, ip6, 10*time.Second)
	r.restart(t)

	// No gateway: the default routes go, the subnet still answers.
	r.put(t, ip3, netConfig{IPAddress: ip3, Netmask: mask24, Gateway: "0.0.0.0"}, "10.99.0.3/24")
	r.direct.waitServing(t, d, ip3, 5*time.Second)
}

// wantGet fails unless GET /config/network at host returns want.
func (r *netRun) wantGet(t *testing.T, c *nsClient, host string, want netConfig) {
	t.Helper()
	var got netConfig
	if err := json.Unmarshal(c.call(t, host, http.MethodGet, "/config/network", "", http.StatusOK), &got); err != nil {
		t.Fatalf("GET /config/network at %s: decode: %v", host, err)
	}
	if got.String() != want.String() {
		t.Fatalf("GET /config/network at %s: got %s, want %s", host, got, want)
	}
}

// put applies cfg through the API at host and checks that GET reports cfg
// at once, that the kernel holds kernel within a second (the appliance
// answers first, so an address change cannot swallow the answer), and,
// when cfg has a gateway, that the appliance answers through it.
func (r *netRun) put(t *testing.T, host string, cfg netConfig, kernel string) {
	t.Helper()
	r.direct.call(t, host, http.MethodPut, "/config/network", cfg.String(), http.StatusNoContent)
	r.wantGet(t, r.direct, host, cfg)
	r.b.waitKernel(t, kernel, time.Second)
	if cfg.Gateway != "0.0.0.0" {
		if err := r.remote.serving(cfg.IPAddress); err != nil {
			t.Fatalf("appliance not answering %s through gateway %s: %v", netRemote4, cfg.Gateway, err)
		}
	}
}

// invalid checks that bad configs get a 400 and change nothing, neither in
// the kernel nor in what GET reports.
func (r *netRun) invalid(t *testing.T) {
	bad := func(mod func(*netConfig)) string {
		c := cfg2
		mod(&c)
		return c.String()
	}
	cases := []struct{ name, query, body string }{
		{"bad address", "", bad(func(c *netConfig) { c.IPAddress = "10.99.0.300" })},
		{"non-contiguous netmask", "", bad(func(c *netConfig) { c.Netmask = "255.0.255.0" })},
		{"gateway outside the subnet", "", bad(func(c *netConfig) { c.Gateway = "10.98.0.1" })},
		{"ipv6 cidr without length", "", bad(func(c *netConfig) { c.IPv6 = &netConfig6{CIDR: ip6} })},
		{"ipv6 gateway outside", "", bad(func(c *netConfig) { c.IPv6 = &netConfig6{CIDR: ip6 + "/64", Gateway: "fd01::1"} })},
		{"not JSON", "", `{"ipAddress":`},
		{"try with a bad address", "?try=true", bad(func(c *netConfig) { c.IPAddress = "10.99.0.255" })},
		{"try timeout too short", "?try=true&timeout=1", cfg3.String()},
		{"try timeout too long", "?try=true&timeout=3601", cfg3.String()},
		{"try timeout not a number", "?try=true&timeout=soon", cfg3.String()},
	}
	for _, tc := range cases {
		before := netcfgtest.Snapshot(t, r.b.app)
		r.direct.call(t, ip2, http.MethodPut, "/config/network"+tc.query, tc.body, http.StatusBadRequest)
		if after := netcfgtest.Snapshot(t, r.b.app); after != before {
			t.Fatalf("%s: rejected PUT changed the kernel:\nbefore:\n%s\nafter:\n%s", tc.name, before, after)
		}
	}
	r.wantGet(t, r.direct, ip2, cfg2)
}

// drift removes the appliance's address behind its back and expects the
// reconcile loop to put it (and the default route that went with it) back.
func (r *netRun) drift(t *testing.T) {
	t.Helper()
	r.b.deleteAddr(t, ip2+"/24")
	took := r.b.waitKernel(t, kernel2, 5*time.Second)
	if err := r.remote.serving(ip2); err != nil {
		t.Fatalf("appliance not answering at %s after drift repair: %v", ip2, err)
	}
	t.Logf("address flushed by hand: restored after %v", took.Round(time.Millisecond))
}

// try starts a try-mode PUT of cfg at host and checks the 202 answer.
func (r *netRun) try(t *testing.T, host string, cfg netConfig, timeout string) tryStarted {
	t.Helper()
	sent := time.Now()
	b := r.direct.call(t, host, http.MethodPut, "/config/network?try=true&timeout="+timeout, cfg.String(), http.StatusAccepted)
	var ts tryStarted
	if err := json.Unmarshal(b, &ts); err != nil || ts.TryID == "" {
		t.Fatalf("try %s: answer %s: want {tryId, deadline} (%v)", cfg, b, err)
	}
	if time.Now().After(ts.Deadline) {
		t.Fatalf("try %s at %s: the 202 arrived only after the deadline %v, so it could never be confirmed (was it sent after the address it answers from was removed?)", cfg, host, ts.Deadline)
	}
	secs, _ := time.ParseDuration(timeout + "s")
	if lo, hi := sent.Add(secs-2*time.Second), time.Now().Add(secs+time.Second); ts.Deadline.Before(lo) || ts.Deadline.After(hi) {
		t.Fatalf("try %s with timeout %s s: deadline %v, want between %v and %v", cfg, timeout, ts.Deadline, lo, hi)
	}
	return ts
}

// confirm posts a confirmation for id at host and wants status want.
func (r *netRun) confirm(t *testing.T, host, id string, want int) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"tryId": id})
	r.direct.call(t, host, http.MethodPost, "/config/network/confirm", string(body), want)
}

// tryConfirmed moves the appliance to .3 in try mode, confirms from there,
// and checks that it stays past the deadline.
func (r *netRun) tryConfirmed(t *testing.T) {
	t.Helper()
	ts := r.try(t, ip2, cfg3, "4")
	r.b.waitKernel(t, kernel3, time.Second) // the answer may go out just before the change
	r.remote.waitServing(t, r.d, ip3, 2*time.Second)
	r.confirm(t, ip3, "no-such-try", http.StatusNotFound)
	r.confirm(t, ip3, ts.TryID, http.StatusNoContent)
	time.Sleep(time.Until(ts.Deadline.Add(time.Second))) // the moment a revert would have come
	if got := r.b.kernel(t); got != kernel3 {
		t.Fatalf("kernel after the deadline of a confirmed try: got %q, want %q", got, kernel3)
	}
	r.wantGet(t, r.remote, ip3, cfg3)
}

// tryExpired moves the appliance to .4 without confirming, and checks that
// it comes back to .3 by itself, not before the deadline.
func (r *netRun) tryExpired(t *testing.T) {
	t.Helper()
	ts := r.try(t, ip3, cfg4, "2")
	r.b.waitKernel(t, kernel4, time.Second)
	r.remote.waitServing(t, r.d, ip4, 2*time.Second)
	r.b.waitKernel(t, kernel3, time.Until(ts.Deadline)+5*time.Second)
	if early := time.Until(ts.Deadline); early > time.Second {
		t.Fatalf("unconfirmed try reverted %v before its deadline %v", early, ts.Deadline)
	}
	t.Logf("unconfirmed try reverted %v after its deadline", -time.Until(ts.Deadline).Round(time.Millisecond))
	r.wantGet(t, r.remote, ip3, cfg3)
	r.confirm(t, ip3, ts.TryID, http.StatusNotFound)
}

// restart stops the daemon, wrecks the interface's config, and expects the
// stored config back before the API answers.
func (r *netRun) restart(t *testing.T) {
	t.Helper()
	d := r.d
	d.Stop()
	r.b.deleteAddr(t, ip3+"/24")
	r.b.deleteAddr(t, ip6+"/64")
	r.b.deleteDefaultRoutes(t)
	netcfgtest.AddAddr(t, r.b.app, netIface, "10.99.0.9/24")
	if got := r.b.kernel(t); got != "10.99.0.9/24" {
		t.Fatalf("kernel while stopped: got %q, want 10.99.0.9/24 only", got)
	}
	d.StartNoWait()
	// Poll the stale address too: answering there first would mean the API
	// listened before the stored config was applied.
	start := time.Now()
	for r.direct.serving(ip3) != nil && r.direct.serving("10.99.0.9") != nil {
		if !d.Running() || time.Since(start) > 15*time.Second {
			t.Fatalf("restarted appliance answers neither at %s nor at 10.99.0.9 (running: %t)\n%s", ip3, d.Running(), d.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("restarted appliance answered after %v", time.Since(start).Round(time.Millisecond))
	if got := r.b.kernel(t); got != kernel36 {
		t.Fatalf("kernel once the restarted API answers: got %q, want %q (stored config applied before listening)", got, kernel36)
	}
	r.remote.unlockAt(t, ip3)
	r.remote6.waitServing(t, d, ip6, 10*time.Second)
	r.wantGet(t, r.remote, ip3, cfg36)
}

// TestNetworkConfigNoInterface: a daemon started without --interface
// manages no network and says so.
func TestNetworkConfigNoInterface(t *testing.T) {
	d := apptest.Start(t, apptest.Options{})
	provision(t, d)
	raw := newRaw(t, d, nil)
	for _, req := range []rawReq{
		{method: "GET", path: "/config/network", user: "admin", pass: adminPass},
		{method: "PUT", path: "/config/network", user: "admin", pass: adminPass, ctype: "application/json", body: cfg2.String()},
	} {
		if got := raw.do(t, req); got.status != http.StatusNotFound {
			t.Errorf("%s %s without --interface: got status %d (%s), want 404", req.method, req.path, got.status, got.body)
		}
	}
}
