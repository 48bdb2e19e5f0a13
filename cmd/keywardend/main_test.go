package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFlagsOverrideConfigFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keywardend.conf")
	conf := `{"version": 1, "dataDir": "/from/file", "listen": "127.0.0.1:1111", "rot": "soft", "peerListen": "127.0.0.1:2380"}`
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := configure([]string{"--config", file, "--listen", "127.0.0.1:2222"})
	if err != nil {
		t.Fatalf("configure: %v", err)
	}
	if cfg.Listen != "127.0.0.1:2222" {
		t.Errorf("listen: got %q, want the flag's 127.0.0.1:2222", cfg.Listen)
	}
	if cfg.DataDir != "/from/file" || cfg.PeerListen != "127.0.0.1:2380" {
		t.Errorf("unset flags: got dataDir %q peerListen %q, want the file's values", cfg.DataDir, cfg.PeerListen)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	typo := filepath.Join(dir, "typo.conf")
	if err := os.WriteFile(typo, []byte(`{"version": 1, "dataDri": "/x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown field in the file", []string{"--config", typo}, "dataDri"},
		{"missing file", []string{"--config", filepath.Join(dir, "none")}, "read config"},
		{"stray argument", []string{"--data-dir", dir, "extra"}, "unexpected arguments"},
		{"bad log level", []string{"--log-level", "loud"}, "--log-level"},
		{"no data dir", []string{"--listen", "127.0.0.1:1"}, "data directory is required"},
		{"unknown root of trust", []string{"--data-dir", dir, "--rot", "magic"}, `root of trust "magic" is unknown`},
		{"pkcs11 without token", []string{"--data-dir", dir, "--rot", "pkcs11"}, "--pkcs11-module"},
		{"bad listen", []string{"--data-dir", dir, "--listen", "nowhere"}, "must be HOST:PORT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(tt.args)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}

// TestNoSilentFallback: asking for a root of trust this machine (or build)
// does not have is an error, never a quiet switch to another one.
func TestNoSilentFallback(t *testing.T) {
	for _, r := range []string{"tpm", "pkcs11"} {
		t.Run(r, func(t *testing.T) {
			dir := t.TempDir()
			pin := filepath.Join(dir, "pin")
			_ = os.WriteFile(pin, []byte("1234"), 0o600)
			args := []string{"--data-dir", filepath.Join(dir, "data"), "--listen", "127.0.0.1:0", "--rot", r,
				"--pkcs11-module", "/nonexistent.so", "--pkcs11-token", "t", "--pkcs11-pin-file", pin}
			err := run(args)
			if err == nil || !strings.Contains(err.Error(), r) {
				t.Fatalf("got %v, want an error naming the root of trust %q", err, r)
			}
			if _, serr := os.Stat(filepath.Join(dir, "data", "rot-soft.key")); serr == nil {
				t.Fatal("a soft root of trust was created after all")
			}
		})
	}
}

func TestPCRList(t *testing.T) {
	dir := t.TempDir()
	if err := run([]string{"--data-dir", dir, "--tpm-pcrs", "7,x"}); err == nil || !strings.Contains(err.Error(), "--tpm-pcrs") {
		t.Fatalf("bad PCR list: got %v, want an error naming --tpm-pcrs", err)
	}
	cfg, _, err := configure([]string{"--data-dir", dir, "--tpm-pcrs", "0, 2,7,7"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := cfg.PCRList()
	if err != nil || len(got) != 3 || got[0] != 0 || got[1] != 2 || got[2] != 7 {
		t.Fatalf("PCRList: got %v, %v; want [0 2 7]", got, err)
	}
}
