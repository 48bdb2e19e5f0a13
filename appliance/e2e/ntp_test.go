package e2e

import (
	"encoding/json"
	"math"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/appliance/apptest"
	"github.com/keywarden/keywarden/appliance/client"
	"github.com/keywarden/keywarden/netcfg/timesync/sntptest"
)

type ntpState struct {
	Servers []string
	Enabled bool
	Status  struct {
		Synced   bool
		OffsetMs float64
		Mode     string
		Error    string
		Servers  []struct {
			Server   string
			OffsetMs float64
			Outlier  bool
		}
	}
}

// TestNTP points the appliance's SNTP client at three servers on loopback,
// one of them far off, and checks the clock follows the majority.
func TestNTP(t *testing.T) {
	d := apptest.Start(t, apptest.Options{})
	provision(t, d)
	raw := newRaw(t, d, net.IPv4(127, 0, 11, 1))
	get := func() ntpState {
		t.Helper()
		r := raw.do(t, rawReq{method: "GET", path: "/config/ntp", user: "admin", pass: adminPass})
		r.want(t, "GET /config/ntp", http.StatusOK)
		var st ntpState
		if err := json.Unmarshal(r.body, &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	put := func(body string) rawReq {
		return rawReq{method: "PUT", path: "/config/ntp", user: "admin", pass: adminPass, ctype: "application/json", body: body}
	}
	if st := get(); st.Enabled || st.Status.Mode != "offset" {
		t.Fatalf("before any NTP configuration: %+v; want disabled, offset mode (tests never set the host clock)", st)
	}
	raw.do(t, put(`{"servers":[],"enabled":true}`)).want(t, "enabled without servers", http.StatusBadRequest)
	raw.do(t, put(`{"servers":["bad host name!"],"enabled":true}`)).want(t, "a malformed server", http.StatusBadRequest)

	// Provisioning set the clock to whole seconds; align it with the host's
	// to the nanosecond, so the correction NTP makes is exactly the servers'.
	now := `{"time":"` + time.Now().UTC().Format(time.RFC3339Nano) + `"}`
	raw.do(t, rawReq{method: "PUT", path: "/config/time", user: "admin", pass: adminPass, ctype: "application/json", body: now}).want(t, "set time", http.StatusNoContent)

	const ahead = 3 * time.Second
	good1, good2 := sntptest.Start(t, ahead), sntptest.Start(t, ahead)
	outlier := sntptest.Start(t, time.Minute)
	body := `{"servers":["` + good1.Addr() + `","` + outlier.Addr() + `","` + good2.Addr() + `"],"enabled":true}`
	raw.do(t, put(body)).want(t, "enable NTP", http.StatusNoContent)

	var st ntpState
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if st = get(); st.Status.Synced {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not synced within 20 s: %+v", st)
		}
	}
	if math.Abs(st.Status.OffsetMs-float64(ahead.Milliseconds())) > 100 {
		t.Errorf("correction: got %.1f ms, want about %d ms (the majority's offset)", st.Status.OffsetMs, ahead.Milliseconds())
	}
	if len(st.Status.Servers) != 3 {
		t.Fatalf("status lists %d servers, want the 3 configured", len(st.Status.Servers))
	}
	for _, s := range st.Status.Servers {
		if (s.Server == outlier.Addr()) != s.Outlier {
			t.Errorf("server %s: outlier %v; want only the one a minute off ignored", s.Server, s.Outlier)
		}
	}
	// The appliance's clock now reads the servers' time.
	r := raw.do(t, rawReq{method: "GET", path: "/config/time", user: "admin", pass: adminPass})
	var tm struct{ Time time.Time }
	if err := json.Unmarshal(r.body, &tm); err != nil {
		t.Fatal(err)
	}
	if skew := tm.Time.Sub(time.Now().Add(ahead)); skew < -1500*time.Millisecond || skew > 1500*time.Millisecond {
		t.Errorf("appliance time %v is %v from the servers' time (the response has whole seconds)", tm.Time, skew)
	}
	if err := d.Client("admin", adminPass).AddUser(apptest.Context(t), "metrics1", client.NewUser{RealName: "M", Role: "Metrics", Passphrase: operatorPass}); err != nil {
		t.Fatal(err)
	}
	m := raw.do(t, rawReq{method: "GET", path: "/metrics", user: "metrics1", pass: operatorPass})
	m.want(t, "GET /metrics", http.StatusOK)
	if !strings.Contains(string(m.body), `"ntpSynced":true`) {
		t.Errorf("metrics do not report the NTP sync: %s", m.body)
	}
}
