package timesync

import (
	"errors"
	"strings"
	"testing"
)

// TestConfigValidate checks the accepted server forms and that every
// problem is reported at once.
func TestConfigValidate(t *testing.T) {
	nine := strings.Split("a b c d e f g h i", " ")
	tests := []struct {
		name    string
		cfg     Config
		wantErr []string // each must appear in the error; none means valid
	}{
		{"zero is disabled and valid", Config{}, nil},
		{"disabled keeps its list", Config{Servers: []string{"pool.ntp.org"}}, nil},
		{"host, IPs and ports", Config{Enabled: true, Servers: []string{
			"pool.ntp.org", "time.example.com.", "ntp1:123", "192.0.2.1", "192.0.2.1:1123",
			"2001:db8::1", "[2001:db8::1]:123", "[fe80::1%eth0]"}}, nil},
		{"enabled needs a server", Config{Enabled: true}, []string{"at least one"}},
		{"too many", Config{Servers: nine}, []string{"9 given, at most 8"}},
		{"bad port", Config{Servers: []string{"ntp:0", "ntp:99999", "ntp:x"}}, []string{`"ntp:0"`, `"ntp:99999"`, `"ntp:x"`}},
		{"bad host", Config{Servers: []string{"", "-bad.example", "a_b", "ntp.example.com/x"}}, []string{`servers[0]`, `servers[1]`, `servers[2]`, `servers[3]`}},
		{"bad brackets", Config{Servers: []string{"[192.0.2.1]", "[2001:db8::1"}}, []string{`servers[0]`, `servers[1]`}},
		{"bare IPv6 with port", Config{Servers: []string{"2001:db8::1:123:x"}}, []string{"[addr]:port"}},
		{"duplicate", Config{Servers: []string{"a", "b", "a"}}, []string{`servers[2] "a": listed twice`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate error %v, want ErrInvalidConfig", err)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Validate error %q does not mention %q", err, want)
				}
			}
		})
	}
}
