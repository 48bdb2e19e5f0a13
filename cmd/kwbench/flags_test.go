package main

import (
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	withAdmin := func(k string) string {
		if k == envAdminPass {
			return "adminpassphrase"
		}
		return ""
	}
	none := func(string) string { return "" }
	tests := []struct {
		name    string
		args    []string
		env     func(string) string
		wantErr string
		check   func(t *testing.T, c config)
	}{
		{name: "defaults", env: none, check: func(t *testing.T, c config) {
			if want := connsPerProc * runtime.GOMAXPROCS(0); c.conns != want {
				t.Errorf("conns = %d, want %d", c.conns, want)
			}
			if c.duration != 10*time.Second || c.daemon != "./bin/keywardend" || len(c.mechs) != 3 {
				t.Errorf("got duration %s daemon %q %d mechanisms, want 10s ./bin/keywardend 3", c.duration, c.daemon, len(c.mechs))
			}
		}},
		{name: "one mechanism", args: []string{"-mech", "ed25519", "-c", "3", "-d", "2s"}, env: none, check: func(t *testing.T, c config) {
			if len(c.mechs) != 1 || c.mechs[0].name != "ed25519" || c.conns != 3 || c.duration != 2*time.Second {
				t.Errorf("got %d mechanisms, c %d, d %s; want ed25519 only, 3, 2s", len(c.mechs), c.conns, c.duration)
			}
		}},
		{name: "url with CA", args: []string{"-url", "https://x/api/v1", "-cacert", ca}, env: withAdmin, check: func(t *testing.T, c config) {
			if string(c.caCert) != "pem" || c.adminPass != "adminpassphrase" {
				t.Errorf("got caCert %q adminPass %q, want the file and the env value", c.caCert, c.adminPass)
			}
		}},
		{name: "zero conns", args: []string{"-c", "0"}, env: none, wantErr: "-c 0"},
		{name: "zero duration", args: []string{"-d", "0s"}, env: none, wantErr: "-d 0s"},
		{name: "unknown mechanism", args: []string{"-mech", "p256,dsa"}, env: none, wantErr: `"dsa"`},
		{name: "url without passphrase", args: []string{"-url", "https://x/api/v1", "-insecure"}, env: none, wantErr: envAdminPass},
		{name: "url without trust", args: []string{"-url", "https://x/api/v1"}, env: withAdmin, wantErr: "-cacert FILE or -insecure"},
		{name: "cacert and insecure", args: []string{"-url", "https://x/api/v1", "-cacert", ca, "-insecure"}, env: withAdmin, wantErr: "mutually exclusive"},
		{name: "insecure without url", args: []string{"-insecure"}, env: none, wantErr: "need -url"},
		{name: "missing CA file", args: []string{"-url", "https://x/api/v1", "-cacert", ca + ".no"}, env: withAdmin, wantErr: "-cacert"},
		{name: "stray argument", args: []string{"extra"}, env: none, wantErr: "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseFlags(tt.args, io.Discard, tt.env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseFlags(%q) error = %v, want one containing %q", tt.args, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseFlags(%q) error = %v, want nil", tt.args, err)
			}
			tt.check(t, c)
		})
	}
}
