package logfwd

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

// record returns an info record at a fixed time with attrs.
func record(msg string, attrs ...any) slog.Record {
	r := slog.NewRecord(time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.FixedZone("x", 3600)), slog.LevelInfo, msg, 0)
	r.Add(attrs...)
	return r
}

// parse formats r with a handler's header and parses it strictly.
func parse(t *testing.T, h *Handler, r slog.Record) (Message, []byte) {
	t.Helper()
	b := format(r, h.fwd.tail, h.params, h.prefix)
	if len(b) > MaxMessage {
		t.Errorf("length: got %d octets, want at most %d", len(b), MaxMessage)
	}
	m, err := ParseMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	return m, b
}

func TestFormatHeader(t *testing.T) {
	long := strings.Repeat("h", 300)
	for _, tt := range []struct {
		name, host, app   string
		wantHost, wantApp string
	}{
		{"plain", "hsm-1", "keywardend", "hsm-1", "keywardend"},
		{"empty", "", "", "-", "-"},
		{"long", long, strings.Repeat("a", 60), long[:255], strings.Repeat("a", 48)},
		{"unprintable", "h o\tt", "k\x00w é", "h_o_t", "k_w___"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHandler(nil, tt.host, tt.app)
			m, _ := parse(t, h, record("m"))
			if m.Host != tt.wantHost || m.App != tt.wantApp {
				t.Errorf("HOSTNAME APP-NAME: got %q %q, want %q %q", m.Host, m.App, tt.wantHost, tt.wantApp)
			}
			if want := "2026-03-01T11:00:00.123456Z"; m.Timestamp != want {
				t.Errorf("TIMESTAMP: got %q, want %q", m.Timestamp, want)
			}
		})
	}
}

func TestFormatNilValues(t *testing.T) {
	h := NewHandler(nil, "h", "a")
	r := slog.NewRecord(time.Time{}, slog.LevelWarn, "", 0)
	m, b := parse(t, h, r)
	if m.Timestamp != "-" || len(m.SD) != 0 || m.Msg != "" {
		t.Errorf("got %q, want TIMESTAMP and SD \"-\" and no MSG", b)
	}
	if strings.HasSuffix(string(b), " ") {
		t.Errorf("got %q, want no SP before an absent MSG", b)
	}
}

func TestFormatEscapesAndNames(t *testing.T) {
	h := NewHandler(nil, "h", "a")
	values := []string{`"`, `\`, `]`, `a\"b]`, "new\nline", "bad\xffutf8"}
	for _, v := range values {
		m, b := parse(t, h, record("m", "k", v))
		want := strings.ToValidUTF8(v, "\uFFFD")
		if got := m.SD[SDID]["k"]; len(got) != 1 || got[0] != want {
			t.Errorf("value %q: got %q in %q, want %q", v, got, b, want)
		}
	}
	for _, tt := range []struct{ key, want string }{
		{"a=b", "a_b"},
		{`q"]`, "q__"},
		{"sp ace", "sp_ace"},
		{"", "_"},
		{strings.Repeat("n", 40), strings.Repeat("n", 32)},
	} {
		m, b := parse(t, h, record("m", tt.key, "v"))
		if _, ok := m.SD[SDID][tt.want]; !ok {
			t.Errorf("key %q: got %q, want PARAM-NAME %q", tt.key, b, tt.want)
		}
	}
}

func TestFormatBoundsLength(t *testing.T) {
	h := NewHandler(nil, strings.Repeat("h", 255), strings.Repeat("a", 48))
	big := strings.Repeat("v", 900)
	t.Run("attributes crowd out", func(t *testing.T) {
		m, _ := parse(t, h, record("short message", "a", big, "b", big, "c", "small"))
		if m.Msg != "short message" {
			t.Errorf("MSG: got %q, want it whole", m.Msg)
		}
		sd := m.SD[SDID]
		if _, ok := sd["c"]; !ok || len(sd) != 2 {
			t.Errorf("SD: got names %v, want one big value and c", keys(sd))
		}
	})
	t.Run("long message", func(t *testing.T) {
		msg := strings.Repeat("ü", 2000) // two octets each
		m, b := parse(t, h, record(msg, "a", big, "b", big, "c", big))
		if len(m.Msg) < minMsgRoom-4 || !strings.HasPrefix(msg, m.Msg) || !m.HasBOM {
			t.Errorf("MSG: got %d octets (BOM %v), want a cut prefix of at least %d", len(m.Msg), m.HasBOM, minMsgRoom-4)
		}
		if len(b) < MaxMessage-1 {
			t.Errorf("length: got %d, want the space used", len(b))
		}
	})
}

func keys(m map[string][]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
