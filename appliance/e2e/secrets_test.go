package e2e

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/appliance/apptest"
)

// assertNoSecrets scans every file of the data directory and the daemon's log
// for the given secrets, as raw bytes, and fails on any occurrence.
func assertNoSecrets(t *testing.T, d *apptest.Daemon, secrets ...string) {
	t.Helper()
	scanned := assertNoSecretsIn(t, d.DataDir, secrets...)
	logs := d.Logs()
	if logs == "" {
		t.Fatal("the daemon wrote no log to scan")
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("secret %q found in the daemon log", s[:min(4, len(s))]+"…")
		}
	}
	t.Logf("scanned %d files and %d bytes of log for %d secrets", scanned, len(logs), len(secrets))
}

// assertNoSecretsIn scans every regular file below dir for the secrets, as
// raw bytes, and returns how many files it read.
func assertNoSecretsIn(t *testing.T, dir string, secrets ...string) int {
	t.Helper()
	if len(secrets) == 0 {
		t.Fatal("a secret scan needs secrets to look for")
	}
	scanned := 0
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || !e.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		scanned++
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("secret %q found in plaintext in %s", s[:min(4, len(s))]+"…", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("scan %s: %v", dir, err)
	}
	if scanned == 0 {
		t.Fatalf("scan found no files in %s", dir)
	}
	return scanned
}
