package logfwd_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/slogtest"
	"time"

	"github.com/keywarden/keywarden/appliance/logfwd"
)

func TestForwardsRFC5424(t *testing.T) {
	c := listen(t)
	h, out := newHandler(t)
	setConfig(t, h, c.config("info"))
	tricky := `say "hi" \ [x] ]`
	before := time.Now()
	slog.New(h).With("node", "n1").WithGroup("req").
		Info("unlocked ✓", "id", 7, "path", tricky, slog.Group("g", "k", "v"))

	m := c.next(t)
	if want := logfwd.Facility*8 + 6; m.PRI != want {
		t.Errorf("PRI: got %d, want %d (daemon.info)", m.PRI, want)
	}
	ts, err := time.Parse(time.RFC3339Nano, m.Timestamp)
	if err != nil || ts.Before(before.Add(-time.Second)) || ts.After(time.Now().Add(time.Second)) {
		t.Errorf("TIMESTAMP: got %q (%v), want the time of logging", m.Timestamp, err)
	}
	if !strings.Contains(m.Timestamp, ".") {
		t.Errorf("TIMESTAMP: got %q, want fractional seconds", m.Timestamp)
	}
	if m.Host != "hsm-1.example" || m.App != "keywardend" || m.ProcID != strconv.Itoa(os.Getpid()) || m.MsgID != "-" {
		t.Errorf("header: got %q %q %q %q, want hsm-1.example keywardend %d -", m.Host, m.App, m.ProcID, m.MsgID, os.Getpid())
	}
	if m.Msg != "unlocked ✓" || !m.HasBOM {
		t.Errorf("MSG: got %q (BOM %v), want %q with a BOM", m.Msg, m.HasBOM, "unlocked ✓")
	}
	want := map[string]string{"node": "n1", "req.id": "7", "req.path": tricky, "req.g.k": "v"}
	got := m.SD[logfwd.SDID]
	if len(m.SD) != 1 || len(got) != len(want) {
		t.Fatalf("SD: got %v, want only %s with %v", m.SD, logfwd.SDID, want)
	}
	for k, v := range want {
		if g := got[k]; len(g) != 1 || g[0] != v {
			t.Errorf("SD-PARAM %s: got %q, want %q", k, g, v)
		}
	}
	if !strings.Contains(out.String(), `"msg":"unlocked ✓"`) {
		t.Errorf("next handler: got %q, want the record", out.String())
	}
}

func TestSeverity(t *testing.T) {
	c := listen(t)
	h, _ := newHandler(t)
	setConfig(t, h, c.config("debug"))
	l := slog.New(h)
	for _, tt := range []struct {
		level slog.Level
		want  int
	}{
		{slog.LevelDebug + 2, 7},
		{slog.LevelDebug, 7},
		{slog.LevelInfo, 6},
		{slog.LevelInfo + 2, 6},
		{slog.LevelWarn, 4},
		{slog.LevelError, 3},
		{slog.LevelError + 8, 3},
	} {
		l.Log(context.Background(), tt.level, "m")
		if got := c.next(t).PRI; got != logfwd.Facility*8+tt.want {
			t.Errorf("level %v: got PRI %d, want %d", tt.level, got, logfwd.Facility*8+tt.want)
		}
	}
}

// TestLevelFilter logs below and then at the level; UDP on loopback from one
// socket keeps order, so the first datagram shows whether the first record
// was filtered without waiting for something not to arrive.
func TestLevelFilter(t *testing.T) {
	c := listen(t)
	h, out := newHandler(t)
	setConfig(t, h, c.config("info"))
	l := slog.New(h)
	l.Debug("debug-below")
	l.Info("info-at")
	if got := c.next(t).Msg; got != "info-at" {
		t.Errorf("first forwarded: got %q, want info-at (debug is below info)", got)
	}
	for _, msg := range []string{"debug-below", "info-at"} {
		if !strings.Contains(out.String(), msg) {
			t.Errorf("next handler: %q missing from %q", msg, out.String())
		}
	}
}

func TestReconfigureAtRuntime(t *testing.T) {
	a, b := listen(t), listen(t)
	h, _ := newHandler(t)
	l := slog.New(h).With("k", "v") // built once; must follow every SetConfig
	setConfig(t, h, a.config("info"))
	l.Info("to-a")
	if got := a.next(t).Msg; got != "to-a" {
		t.Fatalf("a: got %q, want to-a", got)
	}

	setConfig(t, h, b.config("error"))
	if got, want := h.Config(), b.config("error"); got != want {
		t.Errorf("Config: got %+v, want %+v", got, want)
	}
	l.Warn("warn-below")
	l.Error("to-b")
	if got := b.next(t).Msg; got != "to-b" {
		t.Errorf("b: got %q, want to-b (warning is below error)", got)
	}

	setConfig(t, h, a.config("info"))
	l.Info("back-to-a")
	if got := a.next(t).Msg; got != "back-to-a" {
		t.Errorf("a: got %q, want back-to-a (nothing else was meant for a)", got)
	}
}

// TestIPv6AndBack switches the sender's socket family both ways.
func TestIPv6AndBack(t *testing.T) {
	v6, v4 := listen6(t), listen(t)
	h, _ := newHandler(t)
	l := slog.New(h)
	for _, c := range []*collector{v6, v4, v6} {
		setConfig(t, h, c.config("info"))
		l.Info("to-" + c.config("info").IPAddress)
		if got, want := c.next(t).Msg, "to-"+c.config("info").IPAddress; got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	if got := h.Dropped(); got != 0 {
		t.Errorf("Dropped: got %d, want 0", got)
	}
}

func TestUnspecifiedAddressDisables(t *testing.T) {
	c := listen(t)
	h, out := newHandler(t)
	if got := h.Config(); got != logfwd.DefaultConfig() {
		t.Errorf("initial Config: got %+v, want %+v", got, logfwd.DefaultConfig())
	}
	l := slog.New(h)
	on := c.config("debug")
	for _, off := range []string{"0.0.0.0", "::"} {
		if h.Enabled(context.Background(), slog.LevelDebug-4) {
			t.Errorf("%s: Enabled below both levels: got true, want false", off)
		}
		l.Error("while-off-" + off)
		setConfig(t, h, on)
		l.Error("while-on")
		if got := c.next(t).Msg; got != "while-on" {
			t.Errorf("first after %s: got %q, want while-on", off, got)
		}
		setConfig(t, h, logfwd.Config{IPAddress: off, Port: on.Port, LogLevel: "debug"})
	}
	if !strings.Contains(out.String(), "while-off-0.0.0.0") {
		t.Errorf("next handler: got %q, want the records logged while off", out.String())
	}
}

// TestNextHandlerLevelHolds: forwarding at debug must not push debug records
// into an info-level next handler.
func TestNextHandlerLevelHolds(t *testing.T) {
	c := listen(t)
	out := &syncBuffer{}
	h := logfwd.NewHandler(slog.NewTextHandler(out, nil), "h", "a")
	defer h.Close()
	setConfig(t, h, c.config("debug"))
	slog.New(h).Debug("only-forwarded")
	if got := c.next(t).Msg; got != "only-forwarded" {
		t.Errorf("forwarded: got %q, want only-forwarded", got)
	}
	if out.String() != "" {
		t.Errorf("info-level next handler: got %q, want nothing", out.String())
	}
}

func TestSetConfigInvalidKeepsConfig(t *testing.T) {
	c := listen(t)
	h, _ := newHandler(t)
	good := c.config("info")
	setConfig(t, h, good)
	err := h.SetConfig(logfwd.Config{IPAddress: "127.0.0.1", Port: 0, LogLevel: "info"})
	if !errors.Is(err, logfwd.ErrInvalid) {
		t.Errorf("SetConfig(port 0): got %v, want ErrInvalid", err)
	}
	if got := h.Config(); got != good {
		t.Errorf("Config after a rejected SetConfig: got %+v, want %+v", got, good)
	}
}

func TestClose(t *testing.T) {
	c := listen(t)
	out := &syncBuffer{}
	h := logfwd.NewHandler(slog.NewTextHandler(out, nil), "h", "a")
	setConfig(t, h, c.config("info"))
	slog.New(h).Info("queued-before-close")
	if err := errors.Join(h.Close(), h.Close()); err != nil {
		t.Errorf("Close twice: %v", err)
	}
	if got := c.next(t).Msg; got != "queued-before-close" {
		t.Errorf("after Close: got %q, want the record queued before it", got)
	}
	if err := h.SetConfig(c.config("info")); !errors.Is(err, logfwd.ErrClosed) {
		t.Errorf("SetConfig after Close: got %v, want ErrClosed", err)
	}
	slog.New(h).Info("after-close")
	if !strings.Contains(out.String(), "after-close") {
		t.Errorf("next handler after Close: got %q, want the record", out.String())
	}
}

func TestNilNextDiscards(t *testing.T) {
	c := listen(t)
	h := logfwd.NewHandler(nil, "h", "a")
	defer h.Close()
	setConfig(t, h, c.config("info"))
	slog.New(h).Info("m")
	if got := c.next(t).Msg; got != "m" {
		t.Errorf("forwarded: got %q, want m", got)
	}
}

// TestConcurrent logs from several goroutines through derived loggers while
// the configuration changes; -race checks the sharing. The final record goes
// to a collector the storm did not fill, so the kernel cannot drop it.
func TestConcurrent(t *testing.T) {
	a, b, last := listen(t), listen(t), listen(t)
	h, _ := newHandler(t)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			l := slog.New(h).With("worker", i).WithGroup("g")
			for j := range 200 {
				l.Info("m", "j", j)
			}
		})
	}
	wg.Go(func() {
		for i := range 50 {
			c := []logfwd.Config{a.config("info"), b.config("debug"), logfwd.DefaultConfig()}[i%3]
			if err := h.SetConfig(c); err != nil {
				t.Errorf("SetConfig: %v", err)
			}
			_, _ = h.Config(), h.Dropped()
		}
	})
	wg.Wait()
	setConfig(t, h, last.config("info"))
	slog.New(h).Info("last")
	if got := last.next(t).Msg; got != "last" {
		t.Errorf("after the storm: got %q, want last", got)
	}
}

// TestSlogtest runs the standard library's handler conformance suite against
// what the collector receives: SD-PARAM names split on '.' into groups.
func TestSlogtest(t *testing.T) {
	c := listen(t)
	h, _ := newHandler(t)
	setConfig(t, h, c.config("info"))
	slogtest.Run(t, func(*testing.T) slog.Handler { return h }, func(t *testing.T) map[string]any {
		m := c.next(t)
		res := map[string]any{slog.LevelKey: m.PRI % 8, slog.MessageKey: m.Msg}
		if m.Timestamp != "-" {
			res[slog.TimeKey] = m.Timestamp
		}
		for name, values := range m.SD[logfwd.SDID] {
			group, path := res, strings.Split(name, ".")
			for _, g := range path[:len(path)-1] {
				sub, ok := group[g].(map[string]any)
				if !ok {
					sub = map[string]any{}
					group[g] = sub
				}
				group = sub
			}
			group[path[len(path)-1]] = values[len(values)-1]
		}
		return res
	})
}
