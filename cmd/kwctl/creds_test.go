package main

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecretResolution(t *testing.T) {
	tests := []struct {
		name      string
		file      string // file content; "" means no --passphrase-file
		missing   bool   // --passphrase-file names a file that does not exist
		env       string
		want      string
		wantUsage bool // a usage error (exit 2)
		wantErr   bool // any other error (exit 1)
	}{
		{name: "file only", file: "from file\n", want: "from file"},
		{name: "env only", env: "from env", want: "from env"},
		{name: "file beats env", file: "from file", env: "from env", want: "from file"},
		{name: "crlf stripped", file: "from file\r\n", want: "from file"},
		{name: "only one line break stripped", file: "from file\n\n", want: "from file\n"},
		{name: "spaces kept", file: "  spaced out  \n", want: "  spaced out  "},
		{name: "neither", wantUsage: true},
		{name: "empty file", file: "\n", env: "from env", wantUsage: true},
		{name: "missing file", missing: true, env: "from env", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := secretSource{what: "passphrase", flag: "passphrase-file", env: "KEYWARDEN_PASSPHRASE"}
			switch {
			case tc.missing:
				src.file = filepath.Join(t.TempDir(), "absent")
			case tc.file != "":
				src.file = writeTemp(t, "pass", tc.file)
			}
			a := &app{getenv: func(k string) string {
				if k == src.env {
					return tc.env
				}
				return ""
			}}
			got, err := a.secret(src)
			var ue *usageError
			if isUsage := errors.As(err, &ue); isUsage != tc.wantUsage || (err != nil) != (tc.wantUsage || tc.wantErr) {
				t.Fatalf("error: got %v (usage %v), want usage %v, other error %v", err, isUsage, tc.wantUsage, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("secret: got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTLSChoiceIsExplicit(t *testing.T) {
	rec := newAPIRecorder(t, map[string]canned{"GET /api/v1/health/state": {200, "application/json", `{"state":"Operational"}`}})
	tests := []struct {
		name       string
		flags      []string
		wantCode   int
		wantStdout string
		wantStderr string
		wantReqs   int
	}{
		{"neither ca nor insecure", nil, exitUsage, "", "refusing to connect", 0},
		{"both", []string{"--ca", rec.caFile, "--insecure"}, exitUsage, "", "exclude each other", 0},
		{"ca", []string{"--ca", rec.caFile}, exitOK, "Operational\n", "", 1},
		{"insecure warns", []string{"--insecure"}, exitOK, "Operational\n", "warning: --insecure", 1},
		{"unreadable ca", []string{"--ca", filepath.Join(t.TempDir(), "absent.pem")}, exitError, "", "kwctl: read --ca: ", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(rec.requests())
			args := append([]string{"--url", rec.url()}, tc.flags...)
			res := runKwctl(t, nil, "", append(args, "state")...)
			checkResult(t, res, tc.wantCode, tc.wantStdout, tc.wantStderr)
			if n := len(rec.requests()) - before; n != tc.wantReqs {
				t.Errorf("requests: got %d, want %d", n, tc.wantReqs)
			}
		})
	}
}

func TestCredentialsForAuthenticatedCommands(t *testing.T) {
	rec := newAPIRecorder(t, map[string]canned{"POST /api/v1/lock": {status: 204}})
	passFile := writeTemp(t, "pass", "file passphrase\n")
	tests := []struct {
		name     string
		env      map[string]string
		flags    []string
		wantCode int
		wantUser string
		wantPass string
	}{
		{"user flag and passphrase file", nil, []string{"--user", "admin", "--passphrase-file", passFile}, exitOK, "admin", "file passphrase"},
		{"everything from env", map[string]string{"KEYWARDEN_USER": "envadmin", "KEYWARDEN_PASSPHRASE": "env passphrase"}, nil, exitOK, "envadmin", "env passphrase"},
		{"file beats env", map[string]string{"KEYWARDEN_USER": "envadmin", "KEYWARDEN_PASSPHRASE": "env passphrase"},
			[]string{"--passphrase-file", passFile}, exitOK, "envadmin", "file passphrase"},
		{"user flag beats env", map[string]string{"KEYWARDEN_USER": "envadmin", "KEYWARDEN_PASSPHRASE": "env passphrase"},
			[]string{"--user", "admin"}, exitOK, "admin", "env passphrase"},
		{"no passphrase", nil, []string{"--user", "admin"}, exitUsage, "", ""},
		{"no user", map[string]string{"KEYWARDEN_PASSPHRASE": "env passphrase"}, nil, exitUsage, "", ""},
		{"passphrase flag does not exist", nil, []string{"--user", "admin", "--passphrase", "on the command line"}, exitUsage, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(rec.requests())
			args := append([]string{"--url", rec.url(), "--ca", rec.caFile}, tc.flags...)
			res := runKwctl(t, tc.env, "", append(args, "lock")...)
			if res.code != tc.wantCode {
				t.Fatalf("exit code: got %d, want %d (stderr %q)", res.code, tc.wantCode, res.stderr)
			}
			reqs := rec.requests()[before:]
			if tc.wantCode != exitOK {
				if len(reqs) != 0 {
					t.Errorf("requests: got %d, want none", len(reqs))
				}
				return
			}
			if len(reqs) != 1 || reqs[0].user != tc.wantUser || reqs[0].pass != tc.wantPass {
				t.Errorf("credentials sent: got %+v, want %q/%q", reqs, tc.wantUser, tc.wantPass)
			}
		})
	}
}

// checkResult compares an exit code and output; an empty want string for
// stdout means none, for stderr it means anything.
func checkResult(t *testing.T, res result, code int, stdout, stderrPart string) {
	t.Helper()
	if res.code != code {
		t.Errorf("exit code: got %d, want %d (stderr %q)", res.code, code, res.stderr)
	}
	if res.stdout != stdout {
		t.Errorf("stdout: got %q, want %q", res.stdout, stdout)
	}
	if !strings.Contains(res.stderr, stderrPart) {
		t.Errorf("stderr: got %q, want it to contain %q", res.stderr, stderrPart)
	}
}
