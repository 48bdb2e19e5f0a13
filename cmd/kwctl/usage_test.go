package main

import (
	"strings"
	"testing"
)

func TestUsage(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string // substring
		wantStderr string // substring
	}{
		{"no command", nil, exitUsage, "", "no command given"},
		{"help", []string{"help"}, exitOK, "keys sign", ""},
		{"-h", []string{"-h"}, exitOK, "Global flags:", ""},
		{"leaf -h", []string{"keys", "sign", "-h"}, exitOK, "-message-file FILE", ""},
		{"help leaf", []string{"help", "keys", "sign"}, exitOK, "usage: kwctl keys sign ID --mode MODE", ""},
		{"help group", []string{"help", "config", "tls"}, exitOK, "config tls set-cert", ""},
		{"group -h", []string{"users", "-h"}, exitOK, "users passphrase", ""},
		{"group without subcommand", []string{"users"}, exitUsage, "", "users: missing subcommand"},
		{"unknown command", []string{"frob"}, exitUsage, "", `unknown command "frob"`},
		{"unknown subcommand", []string{"keys", "frob"}, exitUsage, "", `keys: unknown subcommand "frob"`},
		{"help unknown", []string{"help", "frob"}, exitUsage, "", `unknown command "frob"`},
		{"unknown global flag", []string{"--frob", "state"}, exitUsage, "", "flag provided but not defined: -frob"},
		{"unknown leaf flag", []string{"keys", "list", "--frob"}, exitUsage, "", "keys list: flag provided but not defined: -frob"},
		{"missing argument", []string{"keys", "show"}, exitUsage, "", "keys show: wrong number of arguments"},
		{"extra argument", []string{"keys", "show", "a", "b"}, exitUsage, "", "keys show: wrong number of arguments"},
		{"missing required flag", []string{"--insecure", "--user", "u", "keys", "sign", "k1"}, exitUsage, "", "--mode is required"},
		{"bad random length", []string{"random", "many"}, exitUsage, "", "LENGTH must be a positive number"},
		{"factory reset needs --yes", []string{"--insecure", "system", "factory-reset"}, exitUsage, "", "add --yes to confirm"},
		{"import needs one source", []string{"keys", "import", "--pem", "a", "--json", "b"}, exitUsage, "", "exactly one of --pem FILE and --json FILE"},
		{"san and no-san", []string{"keys", "csr", "k1", "--cn", "x", "--san", "a", "--no-san"}, exitUsage, "", "exclude each other"},
		{"bad iv", []string{"keys", "decrypt", "k1", "--mode", "AES_CBC", "--iv", "%%"}, exitUsage, "", "--iv: not base64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := runKwctl(t, nil, "", tc.args...)
			if res.code != tc.wantCode {
				t.Errorf("exit code: got %d, want %d (stderr %q)", res.code, tc.wantCode, res.stderr)
			}
			if !strings.Contains(res.stdout, tc.wantStdout) || (tc.wantStdout == "" && res.stdout != "") {
				t.Errorf("stdout: got %q, want it to contain %q", res.stdout, tc.wantStdout)
			}
			if !strings.Contains(res.stderr, tc.wantStderr) {
				t.Errorf("stderr: got %q, want it to contain %q", res.stderr, tc.wantStderr)
			}
			if tc.wantCode == exitUsage && !strings.HasPrefix(res.stderr, "kwctl: ") && !strings.HasPrefix(res.stderr, "usage: ") {
				t.Errorf("stderr: got %q, want it to start with \"kwctl: \" or a usage text", res.stderr)
			}
		})
	}
}

// TestEveryLeafHasHelp runs "<command> -h" for every command in the table,
// so a leaf that does work before parsing its flags is caught.
func TestEveryLeafHasHelp(t *testing.T) {
	var walk func([]*command)
	walk = func(cmds []*command) {
		for _, c := range cmds {
			if c.run == nil {
				walk(c.subs)
				continue
			}
			t.Run(c.path, func(t *testing.T) {
				res := runKwctl(t, nil, "", append(strings.Fields(c.path), "-h")...)
				if res.code != exitOK || !strings.HasPrefix(res.stdout, "usage: kwctl "+c.path) || res.stderr != "" {
					t.Errorf("%s -h: got code %d, stdout %q, stderr %q; want 0 and its usage", c.path, res.code, res.stdout, res.stderr)
				}
			})
		}
	}
	walk(commands())
}
