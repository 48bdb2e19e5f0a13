package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/appliance/apptest"
	"github.com/keywarden/keywarden/netcfg/netcfgtest"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The network testbed: namespace "app" runs keywardend and holds the
// interface it manages; namespace "lan" holds the veth peer with the
// gateway addresses, and on its loopback one "remote" address per family
// that app reaches only through its default route. The test's own client
// runs in lan, so the host's namespace is never touched.
const (
	netIface   = "kwnet0" // a name no host has: a namespace bug cannot reach a real interface
	netPeer    = "kwlan0"
	netPort    = "8443"
	netGW4     = "10.99.0.1"
	netGW6     = "fd00::1"
	netRemote4 = "198.51.100.5"
	netRemote6 = "2001:db8:ffff::5"
)

// netBed is the two namespaces and a netlink handle in app.
type netBed struct {
	app, lan netns.NsHandle
	h        *netlink.Handle // in app
}

// newNetBed builds the namespaces and the veth pair, and gives the daemon's
// end 10.99.0.2/24 by hand, as an installer would before the first PUT.
func newNetBed(t *testing.T) *netBed {
	t.Helper()
	b := &netBed{app: netcfgtest.NewNS(t), lan: netcfgtest.NewNS(t)}
	netcfgtest.Veth(t, b.app, netIface, b.lan, netPeer)
	netcfgtest.AddAddr(t, b.lan, netPeer, netGW4+"/24")
	netcfgtest.AddAddr(t, b.lan, netPeer, netGW6+"/64")
	netcfgtest.AddAddr(t, b.lan, "lo", netRemote4+"/32")
	netcfgtest.AddAddr(t, b.lan, "lo", netRemote6+"/128")
	netcfgtest.AddAddr(t, b.app, netIface, "10.99.0.2/24")
	b.h = netcfgtest.Handle(t, b.app)
	return b
}

// start runs keywardend inside app, managing kwnet0 and listening on every
// address there, and waits until it answers at host.
func (b *netBed) start(t *testing.T, c *nsClient, host string) *apptest.Daemon {
	t.Helper()
	d := apptest.Start(t, apptest.Options{
		Listen: net.JoinHostPort("0.0.0.0", netPort),
		Args:   []string{"--interface", netIface},
		NoWait: true,
		Spawn:  func(cmd *exec.Cmd) error { return netcfgtest.Do(b.app, cmd.Start) },
	})
	c.waitServing(t, d, host, 15*time.Second)
	return d
}

// kernel describes what app's kernel has on kwnet0 of what the appliance
// manages: global addresses and main-table default routes, sorted, such as
// "10.99.0.2/24 default-via-10.99.0.1".
func (b *netBed) kernel(t *testing.T) string {
	t.Helper()
	link := netcfgtest.Link(t, b.h, netIface)
	addrs, err := b.h.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatalf("list addresses on %s: %v", netIface, err)
	}
	var got []string
	for _, a := range addrs {
		if a.Scope == unix.RT_SCOPE_UNIVERSE {
			got = append(got, a.IPNet.String())
		}
	}
	routes, err := b.h.RouteList(link, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatalf("list routes on %s: %v", netIface, err)
	}
	for _, r := range routes {
		if ones, _ := maskOf(r.Dst); r.Table == unix.RT_TABLE_MAIN && ones == 0 {
			got = append(got, "default-via-"+r.Gw.String())
		}
	}
	slices.Sort(got)
	return strings.Join(got, " ")
}

// maskOf returns the prefix length of dst; netlink reports a default
// destination as nil or as a zero-length prefix, depending on the version.
func maskOf(dst *net.IPNet) (int, int) {
	if dst == nil {
		return 0, 0
	}
	return dst.Mask.Size()
}

// waitKernel polls until kernel reports want, and returns how long it took.
func (b *netBed) waitKernel(t *testing.T, want string, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for got := b.kernel(t); got != want; got = b.kernel(t) {
		if time.Since(start) > limit {
			t.Fatalf("kernel state of %s after %v:\n got %q\nwant %q", netIface, limit, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

// deleteAddr removes prefix from kwnet0 behind the appliance's back.
func (b *netBed) deleteAddr(t *testing.T, prefix string) {
	t.Helper()
	a, err := netlink.ParseAddr(prefix)
	if err != nil {
		t.Fatalf("parse %q: %v", prefix, err)
	}
	if err := b.h.AddrDel(netcfgtest.Link(t, b.h, netIface), a); err != nil {
		t.Fatalf("delete %s from %s: %v", prefix, netIface, err)
	}
}

// deleteDefaultRoutes removes every default route through kwnet0 behind
// the appliance's back.
func (b *netBed) deleteDefaultRoutes(t *testing.T) {
	t.Helper()
	routes, err := b.h.RouteList(netcfgtest.Link(t, b.h, netIface), netlink.FAMILY_ALL)
	if err != nil {
		t.Fatalf("list routes on %s: %v", netIface, err)
	}
	for _, r := range routes {
		if ones, _ := maskOf(r.Dst); r.Table == unix.RT_TABLE_MAIN && ones == 0 {
			if err := b.h.RouteDel(&r); err != nil {
				t.Fatalf("delete default route via %s: %v", r.Gw, err)
			}
		}
	}
}

// nsClient speaks HTTPS to the appliance from the lan namespace, from one
// source address, as the admin. Keep-alives are off, so that every request
// is fresh proof that packets flow both ways right now.
type nsClient struct {
	hc *http.Client
}

// newNSClient returns a client whose connections are opened inside ns,
// from source address from.
func newNSClient(t *testing.T, ns netns.NsHandle, from string) *nsClient {
	t.Helper()
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	dial := func(ctx context.Context, network, addr string) (conn net.Conn, err error) {
		err = netcfgtest.Do(ns, func() error {
			conn, err = dialer.DialContext(ctx, network, addr)
			return err
		})
		return conn, err
	}
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
		DialContext:       dial,
		DisableKeepAlives: true,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &nsClient{hc: &http.Client{Transport: tr}}
}

// request sends one request to the appliance at host (an IP address) and
// returns the status and body. Admin credentials go along unless anonymous.
func (c *nsClient) request(ctx context.Context, host, method, path, body string, anonymous bool) (int, []byte, error) {
	url := "https://" + net.JoinHostPort(host, netPort) + "/api/v1" + path
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("build %s %s: %w", method, url, err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if !anonymous {
		req.SetBasicAuth("admin", adminPass)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: read body: %w", method, url, err)
	}
	return resp.StatusCode, b, nil
}

// call sends one admin request and fails the test unless it gets an answer
// with status want.
func (c *nsClient) call(t *testing.T, host, method, path, body string, want int) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	status, b, err := c.request(ctx, host, method, path, body, false)
	if err != nil {
		t.Fatalf("%s %s at %s: %v", method, path, host, err)
	}
	if status != want {
		t.Fatalf("%s %s at %s (body %s): got status %d (%s), want %d", method, path, host, body, status, bytes.TrimSpace(b), want)
	}
	return b
}

// serving reports whether the appliance answers /health/state at host
// within a second.
func (c *nsClient) serving(host string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	status, _, err := c.request(ctx, host, http.MethodGet, "/health/state", "", true)
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("status %d", status)
	}
	return err
}

// waitServing polls until the appliance answers at host, and returns how
// long that took. It fails the test at once when the daemon exits.
func (c *nsClient) waitServing(t *testing.T, d *apptest.Daemon, host string, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for err := c.serving(host); err != nil; err = c.serving(host) {
		if !d.Running() {
			t.Fatalf("keywardend exited while waiting for it at %s\n%s", host, d.Logs())
		}
		if time.Since(start) > limit {
			t.Fatalf("appliance not answering at %s within %v: %v\n%s", host, limit, err, d.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

// provisionAt provisions the appliance through c at host.
func (c *nsClient) provisionAt(t *testing.T, host string) {
	t.Helper()
	c.anonymous(t, host, "/provision", fmt.Sprintf(`{"unlockPassphrase":%q,"adminPassphrase":%q,"systemTime":%q}`,
		unlockPass, adminPass, time.Now().UTC().Format(time.RFC3339)))
}

// unlockAt unlocks the (restarted) appliance through c at host.
func (c *nsClient) unlockAt(t *testing.T, host string) {
	t.Helper()
	c.anonymous(t, host, "/unlock", fmt.Sprintf(`{"passphrase":%q}`, unlockPass))
}

// anonymous posts body to path at host without credentials and fails the
// test unless it succeeds.
func (c *nsClient) anonymous(t *testing.T, host, path, body string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	status, b, err := c.request(ctx, host, http.MethodPost, path, body, true)
	if err != nil || status/100 != 2 {
		t.Fatalf("POST %s at %s: status %d (%s), %v", path, host, status, b, err)
	}
}
