package logfwd_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/appliance/logfwd"
)

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		name string
		c    logfwd.Config
		want []string // substrings of the error; nil means valid
	}{
		{"default", logfwd.DefaultConfig(), nil},
		{"ipv4", logfwd.Config{IPAddress: "192.0.2.10", Port: 514, LogLevel: "warning"}, nil},
		{"ipv6", logfwd.Config{IPAddress: "2001:db8::1", Port: 65535, LogLevel: "error"}, nil},
		{"port 1 debug", logfwd.Config{IPAddress: "127.0.0.1", Port: 1, LogLevel: "debug"}, nil},
		{"bad ip", logfwd.Config{IPAddress: "300.1.1.1", Port: 514, LogLevel: "info"}, []string{"ipAddress"}},
		{"hostname", logfwd.Config{IPAddress: "logs.example", Port: 514, LogLevel: "info"}, []string{"ipAddress"}},
		{"empty ip", logfwd.Config{Port: 514, LogLevel: "info"}, []string{"ipAddress"}},
		{"zone", logfwd.Config{IPAddress: "fe80::1%eth0", Port: 514, LogLevel: "info"}, []string{"ipAddress"}},
		{"port 0", logfwd.Config{IPAddress: "127.0.0.1", Port: 0, LogLevel: "info"}, []string{"port 0"}},
		{"port 65536", logfwd.Config{IPAddress: "127.0.0.1", Port: 65536, LogLevel: "info"}, []string{"port 65536"}},
		{"port -1", logfwd.Config{IPAddress: "127.0.0.1", Port: -1, LogLevel: "info"}, []string{"port -1"}},
		{"level warn", logfwd.Config{IPAddress: "127.0.0.1", Port: 514, LogLevel: "warn"}, []string{"logLevel"}},
		{"level case", logfwd.Config{IPAddress: "127.0.0.1", Port: 514, LogLevel: "Info"}, []string{"logLevel"}},
		{"level empty", logfwd.Config{IPAddress: "127.0.0.1", Port: 514}, []string{"logLevel"}},
		{"all at once", logfwd.Config{IPAddress: "x", Port: 70000, LogLevel: "trace"}, []string{"ipAddress", "port 70000", "logLevel"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate()
			if tt.want == nil {
				if err != nil {
					t.Errorf("Validate(%+v): got %v, want nil", tt.c, err)
				}
				return
			}
			if !errors.Is(err, logfwd.ErrInvalid) {
				t.Fatalf("Validate(%+v): got %v, want ErrInvalid", tt.c, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate(%+v): got %q, want it to mention %q", tt.c, err, w)
				}
			}
		})
	}
}

func TestConfigJSON(t *testing.T) {
	const ref = `{"ipAddress":"0.0.0.0","port":514,"logLevel":"info"}`
	got, err := json.Marshal(logfwd.DefaultConfig())
	if err != nil || string(got) != ref {
		t.Errorf("Marshal(DefaultConfig()): got %s, %v, want %s", got, err, ref)
	}
	var c logfwd.Config
	if err := json.Unmarshal([]byte(ref), &c); err != nil || c != logfwd.DefaultConfig() {
		t.Errorf("Unmarshal(%s): got %+v, %v, want DefaultConfig()", ref, c, err)
	}
}
