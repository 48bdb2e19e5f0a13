package systemd

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const (
	unitFile = "keywardend.service"
	// witnessUnitFile runs `keywardend witness`.
	witnessUnitFile = "keywarden-witness.service"
	sysusersFile    = "keywarden.sysusers"
	daemonPath      = "/usr/bin/keywardend"
	wantExec        = daemonPath + " --config /etc/keywarden/keywardend.conf --data-dir /var/lib/keywarden --listen 0.0.0.0:443 --rot tpm"
)

// directives parses a unit file into key -> values, in file order.
func directives(t *testing.T, unit []byte) map[string][]string {
	t.Helper()
	got := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(unit))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("unit line %q: want key=value", line)
		}
		got[key] = append(got[key], value)
	}
	return got
}

func TestUnitDirectives(t *testing.T) {
	unit, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	got := directives(t, unit)
	caps := "CAP_NET_BIND_SERVICE CAP_NET_ADMIN CAP_SYS_TIME"
	want := map[string]string{
		"Type": "notify", "ExecStart": wantExec, "WatchdogSec": "30s",
		"Restart": "on-failure", "TimeoutStopSec": "10s", "User": "keywarden",
		"StateDirectory": "keywarden", "StateDirectoryMode": "0700",
		"CapabilityBoundingSet": caps, "AmbientCapabilities": caps, "LimitCORE": "0",
		"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
		"PrivateTmp": "yes", "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes",
		"ProtectKernelLogs": "yes", "ProtectControlGroups": "yes",
		"RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6 AF_NETLINK",
		"RestrictNamespaces":      "yes", "LockPersonality": "yes", "MemoryDenyWriteExecute": "yes",
		"RestrictRealtime": "yes", "RestrictSUIDSGID": "yes", "SystemCallArchitectures": "native",
		"SystemCallFilter": "@system-service @clock", "DeviceAllow": "/dev/tpmrm0 rw",
	}
	for key, value := range want {
		if g := strings.Join(got[key], " "); g != value {
			t.Errorf("%s: got %q, want %q", key, g, value)
		}
	}
	for _, forbidden := range []string{"ProtectClock", "DynamicUser", "PrivateUsers"} {
		if v, ok := got[forbidden]; ok {
			t.Errorf("%s=%v: want it absent (it would break clock setting or capabilities)", forbidden, v)
		}
	}
}

// TestUnitVerifies runs systemd-analyze verify on the units. verify checks
// that ExecStart's binary exists, and keywardend is not installed on a build
// machine, so the test verifies copies whose ExecStart points at /bin/true
// with the same arguments; every other line is checked as shipped.
func TestUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (apt-get install systemd); unit file not verified")
	}
	for _, name := range []string{unitFile, witnessUnitFile} {
		t.Run(name, func(t *testing.T) { verifyUnit(t, analyze, name) })
	}
}

func verifyUnit(t *testing.T, analyze, name string) {
	unit, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(unit, []byte("ExecStart="+daemonPath+" ")) != 1 {
		t.Fatalf("unit: want exactly one ExecStart of %s to rewrite", daemonPath)
	}
	copyPath := filepath.Join(t.TempDir(), name)
	rewritten := bytes.Replace(unit, []byte("ExecStart="+daemonPath), []byte("ExecStart=/bin/true"), 1)
	if err := os.WriteFile(copyPath, rewritten, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", "--man=no", copyPath).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze verify: %v", err)
	}
	// Lines about other units (dependencies on this machine) are not ours.
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.Contains(line, name) {
			t.Errorf("systemd-analyze verify: %s", line)
		} else if line != "" {
			t.Logf("systemd-analyze verify (other unit): %s", line)
		}
	}
}

// TestWitnessUnit checks what the witness unit must get right: the witness
// subcommand with every required flag, the key as a credential (never in the
// state directory), no capabilities, and notify/watchdog like the daemon.
func TestWitnessUnit(t *testing.T) {
	unit, err := os.ReadFile(witnessUnitFile)
	if err != nil {
		t.Fatal(err)
	}
	got := directives(t, unit)
	execStart := strings.Join(got["ExecStart"], " ")
	for _, flag := range []string{" witness ", "--name ", "--data-dir /var/lib/keywarden-witness ", "--peer-listen ", "--cert ", "--key ${CREDENTIALS_DIRECTORY}/peer.key ", "--ca ", "--members-json "} {
		if !strings.Contains(execStart+" ", flag) {
			t.Errorf("ExecStart %q: want %q", execStart, flag)
		}
	}
	want := map[string]string{
		"Type": "notify", "WatchdogSec": "30s", "User": "keywarden", "StateDirectory": "keywarden-witness",
		"StateDirectoryMode": "0700", "CapabilityBoundingSet": "", "AmbientCapabilities": "",
		"LoadCredential": "peer.key:/etc/keywarden/witness/peer.key", "LimitCORE": "0",
		"NoNewPrivileges": "yes", "ProtectSystem": "strict",
	}
	for key, value := range want {
		if g, ok := got[key]; !ok || strings.Join(g, " ") != value {
			t.Errorf("%s: got %q (set: %v), want %q", key, strings.Join(g, " "), ok, value)
		}
	}
}

// TestSysusersParses checks the sysusers.d entry that creates the unit's user.
func TestSysusersParses(t *testing.T) {
	sysusers, err := exec.LookPath("systemd-sysusers")
	if err != nil {
		t.Skip("systemd-sysusers not installed; sysusers entry not checked")
	}
	abs, err := filepath.Abs(sysusersFile)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sysusers, "--root="+root, "--dry-run", abs).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-sysusers: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, abs) || strings.Contains(line, "ignoring") {
			t.Errorf("systemd-sysusers: %s", line)
		}
	}
	if !bytes.Contains(out, []byte("Creating user 'keywarden'")) {
		t.Errorf("systemd-sysusers output %q: want it to create user keywarden", out)
	}
}
