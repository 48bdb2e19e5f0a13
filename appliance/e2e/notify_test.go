package e2e

import (
	"crypto/tls"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/appliance/apptest"
)

// TestSystemdNotify runs the daemon as systemd would (Type=notify with a
// watchdog) and checks READY=1 comes only once the API serves, STATUS= names
// the state, WATCHDOG=1 is sent, and STOPPING=1 comes on SIGTERM.
func TestSystemdNotify(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msgs := make(chan string, 64)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	d := apptest.Start(t, apptest.Options{NoWait: true, Env: []string{"NOTIFY_SOCKET=" + sock, "WATCHDOG_USEC=400000"}})

	want := map[string]bool{"READY=1": false, "STATUS=state: Unprovisioned": false, "WATCHDOG=1": false}
	deadline := time.After(10 * time.Second)
	for !all(want) {
		select {
		case m := <-msgs:
			if m == "READY=1" {
				assertServing(t, d)
			}
			if _, ok := want[m]; ok {
				want[m] = true
			}
		case <-deadline:
			t.Fatalf("notifications seen: %v", want)
		}
	}
	d.Stop()
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				t.Fatal("notify socket closed before STOPPING=1")
			}
			if m == "STOPPING=1" {
				return
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no STOPPING=1 after SIGTERM")
		}
	}
}

func all(m map[string]bool) bool {
	for _, v := range m {
		if !v {
			return false
		}
	}
	return true
}

// assertServing checks the API answers at the moment READY=1 arrives.
func assertServing(t *testing.T, d *apptest.Daemon) {
	t.Helper()
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get(d.URL + "/health/state")
	if err != nil {
		t.Fatalf("READY=1 sent but the API does not answer: %v", err)
	}
	resp.Body.Close()
	if !strings.HasPrefix(resp.Status, "200") {
		t.Fatalf("READY=1 sent but /health/state answered %s", resp.Status)
	}
}
