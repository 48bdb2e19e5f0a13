package e2e

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/appliance/apptest"
	"github.com/keywarden/keywarden/appliance/client"
)

// syslogListener collects the datagrams a daemon forwards.
type syslogListener struct {
	conn *net.UDPConn
	port int
}

func listenSyslog(t *testing.T) *syslogListener {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &syslogListener{conn: conn, port: conn.LocalAddr().(*net.UDPAddr).Port}
}

// await reads datagrams until one contains want, and returns everything read.
func (l *syslogListener) await(t *testing.T, want string) []string {
	t.Helper()
	var got []string
	buf := make([]byte, 64<<10)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		_ = l.conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, err := l.conn.Read(buf)
		if err != nil {
			continue
		}
		msg := string(buf[:n])
		got = append(got, msg)
		if strings.Contains(msg, want) {
			return got
		}
	}
	t.Fatalf("no forwarded record contains %q within 10 s; got %d: %q", want, len(got), got)
	return nil
}

// TestLogForwarding configures syslog forwarding through the API and
// receives the appliance's records on a UDP listener, with the level filter.
func TestLogForwarding(t *testing.T) {
	d := apptest.Start(t, apptest.Options{})
	provision(t, d)
	ctx := apptest.Context(t)
	admin := d.Client("admin", adminPass)
	raw := newRaw(t, d, net.IPv4(127, 0, 10, 1))
	get := rawReq{method: "GET", path: "/config/logging", user: "admin", pass: adminPass}
	put := func(body string) rawReq {
		return rawReq{method: "PUT", path: "/config/logging", user: "admin", pass: adminPass, ctype: "application/json", body: body}
	}
	if r := raw.do(t, get); r.status != 200 || !strings.Contains(string(r.body), `"ipAddress":"0.0.0.0"`) {
		t.Fatalf("default logging configuration: %d %s", r.status, r.body)
	}

	l := listenSyslog(t)
	cfg := `{"ipAddress":"127.0.0.1","port":` + strconv.Itoa(l.port) + `,"logLevel":"info"}`
	raw.do(t, put(cfg)).want(t, "set forwarding", http.StatusNoContent)
	for _, bad := range []string{
		`{"ipAddress":"not-an-ip","port":514,"logLevel":"info"}`,
		`{"ipAddress":"127.0.0.1","port":0,"logLevel":"info"}`,
		`{"ipAddress":"127.0.0.1","port":514,"logLevel":"chatty"}`,
		`{"ipAddress":"127.0.0.1","port":514}`,
	} {
		raw.do(t, put(bad)).want(t, "invalid logging configuration "+bad, http.StatusBadRequest)
	}
	if r := raw.do(t, get); string(r.body) != cfg {
		t.Fatalf("configuration after refused changes: got %s, want %s", r.body, cfg)
	}

	// Info records arrive; the debug ones the daemon also logs (it runs at
	// debug level on stderr) do not.
	if err := admin.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	got := l.await(t, "state changed")
	if !strings.HasPrefix(got[len(got)-1], "<30>1 ") { // facility daemon (3), severity info (6)
		t.Errorf("forwarded record %q: want an RFC 5424 header with priority 30", got[len(got)-1])
	}
	if err := d.Client("", "").Unlock(ctx, "wrong-unlock-passphrase"); client.StatusCode(err) != http.StatusForbidden {
		t.Fatalf("wrong unlock: %v", err)
	}
	if err := d.Client("", "").Unlock(ctx, unlockPass); err != nil {
		t.Fatal(err)
	}
	for _, msg := range l.await(t, "appliance unlocked") {
		if strings.Contains(msg, "request refused") {
			t.Errorf("a debug record was forwarded at level info: %q", msg)
		}
	}

	// The configuration survives a restart and forwards from the start.
	d.Restart()
	l.await(t, "state changed")
	if err := d.Client("", "").Unlock(apptest.Context(t), unlockPass); err != nil {
		t.Fatal(err)
	}
	if r := raw.do(t, get); string(r.body) != cfg {
		t.Fatalf("configuration after a restart: got %s, want %s", r.body, cfg)
	}
}
