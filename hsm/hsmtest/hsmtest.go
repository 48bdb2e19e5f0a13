// Package hsmtest creates SoftHSM2 tokens for tests, each test getting its
// own token directory and SOFTHSM2_CONF, removed when the test ends.
//
// SoftHSM2 reads SOFTHSM2_CONF, and scans its token directory, only in
// C_Initialize, and package hsm calls C_Initialize once per process for as
// long as any Module of the library is open. So:
//
//   - a test must create every token it uses at the same time (NewToken on
//     the same t) before it opens any of them; tokens created later are
//     invisible until every Module is closed and the library re-initialised;
//   - every Module must be closed before the test that made its tokens ends,
//     or the next test's tokens are invisible;
//   - tests that use tokens cannot run in parallel with each other. NewToken
//     sets the variable with t.Setenv, which panics in a parallel test, so
//     the rule enforces itself.
//
// Separate test binaries (packages) are separate processes and do not
// interfere.
package hsmtest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// modulePaths are where Debian and source installs put SoftHSM2's library.
var modulePaths = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
}

// Module returns the path of the SoftHSM2 library, or skips the test if it
// is not installed.
func Module(t testing.TB) string {
	t.Helper()
	for _, p := range modulePaths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skipf("SoftHSM2 is not installed (no libsofthsm2.so in %v); `make test` installs it (apt-get install softhsm2)", modulePaths)
	return ""
}

// dirs maps a test to its token directory, so that all tokens of one test
// share the directory (and the SOFTHSM2_CONF) the library will read.
var dirs sync.Map // testing.TB -> string

// Dir returns the token directory of t, creating it and pointing
// SOFTHSM2_CONF at a configuration that uses it.
func Dir(t testing.TB) string {
	t.Helper()
	if d, ok := dirs.Load(t); ok {
		return d.(string)
	}
	root := t.TempDir()
	tokens := filepath.Join(root, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatalf("hsmtest: %v", err)
	}
	conf := filepath.Join(root, "softhsm2.conf")
	config := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", tokens)
	if err := os.WriteFile(conf, []byte(config), 0o600); err != nil {
		t.Fatalf("hsmtest: %v", err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	dirs.Store(t, tokens)
	t.Cleanup(func() { dirs.Delete(t) })
	return tokens
}

// NewToken initialises a SoftHSM2 token labelled label in t's token
// directory with a random user PIN, and returns the library path, the label
// and the PIN. It skips the test if SoftHSM2 is not installed or the test
// binary was built without cgo. The token is removed with the directory when
// the test ends.
func NewToken(t testing.TB, label string) (module, tokenLabel, pin string) {
	t.Helper()
	if !cgoEnabled {
		t.Skip("built without cgo: package hsm cannot load PKCS#11 libraries")
	}
	module = Module(t)
	util, err := exec.LookPath("softhsm2-util")
	if err != nil {
		t.Skipf("SoftHSM2 is not installed (softhsm2-util not found); `make test` installs it (apt-get install softhsm2)")
	}
	Dir(t)
	pin, soPIN := randomPIN(t), randomPIN(t)
	cmd := exec.Command(util, "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", soPIN)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hsmtest: softhsm2-util --init-token --label %s: %v\n%s", label, err, out)
	}
	return module, label, pin
}

func randomPIN(t testing.TB) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
