package main

import (
	"bytes"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	octetType  = "application/octet-stream"
	backupData = "KWBACKUP\x00\x01 not really encrypted"
)

func TestBackupWritesFile(t *testing.T) {
	rec := newAPIRecorder(t, map[string]canned{"POST /api/v1/system/backup": {200, octetType, backupData}})
	out := filepath.Join(t.TempDir(), "kw.backup")
	res := runKwctl(t, adminEnv, "", "--url", rec.url(), "--ca", rec.caFile, "backup", "--out", out)
	checkResult(t, res, exitOK, "backup written to "+out+"\n", "backup: wrote 31 B in 0s (rate unknown)\n")
	checkBackupFile(t, out, backupData)
	reqs := rec.requests()
	if len(reqs) != 1 || reqs[0].method != "POST" || reqs[0].uri != "/api/v1/system/backup" || reqs[0].user != "admin" {
		t.Errorf("requests: got %+v, want one POST /api/v1/system/backup as admin", reqs)
	}
}

// checkBackupFile checks that name holds want, readable by its owner only,
// and that no partial file is left beside it.
func checkBackupFile(t *testing.T, name, want string) {
	t.Helper()
	got, err := os.ReadFile(name)
	if err != nil || string(got) != want {
		t.Errorf("backup file: got %q (%v), want %q", got, err, want)
	}
	if st, err := os.Stat(name); err == nil && st.Mode().Perm() != 0o600 {
		t.Errorf("backup file mode: got %v, want 0600", st.Mode().Perm())
	}
	checkNoPartial(t, name)
}

func checkNoPartial(t *testing.T, name string) {
	t.Helper()
	if _, err := os.Lstat(name + ".partial"); !os.IsNotExist(err) {
		t.Errorf("%s.partial: got %v, want it removed", name, err)
	}
}

func TestBackupRefusesToOverwrite(t *testing.T) {
	rec := newAPIRecorder(t, map[string]canned{"POST /api/v1/system/backup": {200, octetType, backupData}})
	out := writeTemp(t, "kw.backup", "older backup")
	base := []string{"--url", rec.url(), "--ca", rec.caFile, "backup", "--out", out}

	res := runKwctl(t, adminEnv, "", base...)
	checkResult(t, res, exitUsage, "", "backup: "+out+" exists; add --force to replace it")
	if got, _ := os.ReadFile(out); string(got) != "older backup" || len(rec.requests()) != 0 {
		t.Fatalf("without --force: file now %q after %d requests, want it untouched and no request", got, len(rec.requests()))
	}

	res = runKwctl(t, adminEnv, "", append(base, "--force")...)
	checkResult(t, res, exitOK, "backup written to "+out+"\n", "")
	checkBackupFile(t, out, backupData)
}

func TestBackupStalePartial(t *testing.T) {
	rec := newAPIRecorder(t, map[string]canned{"POST /api/v1/system/backup": {200, octetType, backupData}})
	out := filepath.Join(t.TempDir(), "kw.backup")
	if err := os.WriteFile(out+".partial", []byte("interrupted"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"--url", rec.url(), "--ca", rec.caFile, "backup", "--out", out}
	res := runKwctl(t, adminEnv, "", base...)
	checkResult(t, res, exitError, "", "kw.backup.partial exists: another backup may be writing it, or one was interrupted; remove it or add --force")
	if got, _ := os.ReadFile(out + ".partial"); string(got) != "interrupted" {
		t.Errorf("partial file: got %q, want it left alone", got)
	}
	res = runKwctl(t, adminEnv, "", append(base, "--force")...)
	checkResult(t, res, exitOK, "backup written to "+out+"\n", "")
	checkBackupFile(t, out, backupData) // also checks the mode of a fresh file, not the old 0644
}

func TestBackupFailureLeavesNoFile(t *testing.T) {
	tests := []struct {
		name       string
		handler    http.HandlerFunc
		timeout    string
		wantStderr string
	}{
		{"refused", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", jsonType)
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"message":"user admin is a Administrator; this needs Backup"}`)
		}, "30s", "kwctl: backup: 403 Forbidden: user admin is a Administrator; this needs Backup\n"},
		{"stream cut", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", octetType)
			_, _ = w.Write(make([]byte, 100_000))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}, "30s", "the backup stream broke off after 100000 bytes"},
		{"stalled", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", octetType)
			_, _ = w.Write([]byte(backupData))
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}, "300ms", "kwctl: backup: transfer stalled: nothing moved for 300ms (--timeout)\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url, caFile := serveTLS(t, tc.handler)
			out := filepath.Join(t.TempDir(), "kw.backup")
			res := runKwctl(t, adminEnv, "", "--url", url, "--ca", caFile, "--timeout", tc.timeout, "backup", "--out", out)
			checkResult(t, res, exitError, "", tc.wantStderr)
			if _, err := os.Lstat(out); !os.IsNotExist(err) {
				t.Errorf("%s: got %v, want no file", out, err)
			}
			checkNoPartial(t, out)
		})
	}
}

// TestBackupTimeoutBoundsStallsOnly sends a backup that takes longer than
// --timeout but never pauses for that long: it must succeed.
func TestBackupTimeoutBoundsStallsOnly(t *testing.T) {
	url, caFile := serveTLS(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", octetType)
		for range 8 {
			_, _ = w.Write([]byte("0123456789"))
			w.(http.Flusher).Flush()
			time.Sleep(100 * time.Millisecond)
		}
	})
	out := filepath.Join(t.TempDir(), "kw.backup")
	res := runKwctl(t, adminEnv, "", "--url", url, "--ca", caFile, "--timeout", "400ms", "backup", "--out", out)
	checkResult(t, res, exitOK, "backup written to "+out+"\n", "")
	checkBackupFile(t, out, strings.Repeat("0123456789", 8))
}

func TestRestoreCommand(t *testing.T) {
	backupFile := writeTemp(t, "kw.backup", backupData)
	passFile := writeTemp(t, "backup-pass", "pass from file\n")
	tests := []struct {
		name       string
		env        map[string]string
		args       []string
		state      string
		wantUser   string
		wantArgs   string
		wantStdout string
	}{
		{"unprovisioned, no login", map[string]string{"KEYWARDEN_BACKUP_PASSPHRASE": "backup pass"},
			nil, "Locked", "", `{"backupPassphrase":"backup pass","systemTime":"2026-01-02T03:04:05Z"}`,
			"restored; the appliance is Locked: unlock it with the unlock passphrase of the appliance the backup was made on\n"},
		{"operational, as admin", withEnv(map[string]string{"KEYWARDEN_BACKUP_PASSPHRASE": "backup pass"}),
			[]string{"--system-time", "2025-12-31T23:00:00-02:00"}, "Operational", "admin",
			`{"backupPassphrase":"backup pass","systemTime":"2026-01-01T01:00:00Z"}`, "restored; the appliance is Operational\n"},
		{"passphrase file beats env", withEnv(map[string]string{"KEYWARDEN_BACKUP_PASSPHRASE": "backup pass"}),
			[]string{"--backup-passphrase-file", passFile}, "Operational", "admin",
			`{"backupPassphrase":"pass from file","systemTime":"2026-01-02T03:04:05Z"}`, "restored; the appliance is Operational\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newAPIRecorder(t, map[string]canned{
				"POST /api/v1/system/restore": {status: 204},
				"GET /api/v1/health/state":    {200, jsonType, `{"state":"` + tc.state + `"}`},
			})
			args := slices.Concat([]string{"--url", rec.url(), "--ca", rec.caFile, "restore", "--file", backupFile}, tc.args)
			res := runKwctl(t, tc.env, "", args...)
			checkResult(t, res, exitOK, tc.wantStdout, "restore: sent 31 B in 0s (rate unknown); the appliance checks and applies it\n")
			reqs := rec.requests()
			if len(reqs) != 2 || reqs[0].uri != "/api/v1/system/restore" || reqs[1].uri != "/api/v1/health/state" {
				t.Fatalf("requests: got %+v, want the restore, then the state", reqs)
			}
			if reqs[0].user != tc.wantUser {
				t.Errorf("restore user: got %q, want %q", reqs[0].user, tc.wantUser)
			}
			// The part layout is pinned by the client tests; here check that
			// kwctl passed the arguments and the file through.
			if !strings.HasPrefix(reqs[0].contentType, "multipart/form-data; boundary=") ||
				!strings.Contains(reqs[0].body, tc.wantArgs) || !strings.Contains(reqs[0].body, backupData) {
				t.Errorf("restore body (%s): got %q, want it to hold %s and the file", reqs[0].contentType, reqs[0].body, tc.wantArgs)
			}
		})
	}
}

func TestRestoreFailures(t *testing.T) {
	backupFile := writeTemp(t, "kw.backup", backupData)
	rec := newAPIRecorder(t, map[string]canned{
		"POST /api/v1/system/restore": {401, jsonType, `{"message":"credentials required"}`},
	})
	env := map[string]string{"KEYWARDEN_BACKUP_PASSPHRASE": "b"}
	tests := []struct {
		name       string
		env        map[string]string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"no file flag", env, []string{"restore"}, exitUsage, "restore: --file is required"},
		{"bad time", env, []string{"restore", "--file", backupFile, "--system-time", "yesterday"}, exitUsage, "restore: --system-time: parsing time"},
		{"no passphrase", nil, []string{"restore", "--file", backupFile}, exitUsage,
			"no backup passphrase: use --backup-passphrase-file FILE or set KEYWARDEN_BACKUP_PASSPHRASE"},
		{"missing file", env, []string{"restore", "--file", filepath.Join(t.TempDir(), "absent")}, exitError, "no such file or directory"},
		{"directory", env, []string{"restore", "--file", t.TempDir()}, exitError, "is not a regular file"},
		{"operational without login", env, []string{"restore", "--file", backupFile}, exitError,
			"kwctl: restore: 401 Unauthorized: credentials required (an appliance that is not Unprovisioned takes a restore only from an Administrator: use --user)\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := runKwctl(t, tc.env, "", slices.Concat([]string{"--url", rec.url(), "--ca", rec.caFile}, tc.args)...)
			checkResult(t, res, tc.wantCode, "", tc.wantStderr)
		})
	}
}

// TestRestoreTimeouts checks that --timeout bounds stalls of the upload,
// while the appliance may take longer than that to answer once it has the
// whole file.
func TestRestoreTimeouts(t *testing.T) {
	large := filepath.Join(t.TempDir(), "large.backup")
	if err := os.WriteFile(large, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(large, 64<<20); err != nil { // sparse: more than any socket buffer
		t.Fatal(err)
	}
	// The server notices a dropped connection only once it reads the body
	// again, so a stalled handler waits for release, closed as a test ends.
	tests := []struct {
		name       string
		handler    func(w http.ResponseWriter, r *http.Request, release <-chan struct{})
		wantCode   int
		wantStderr string
	}{
		{"slow answer", func(w http.ResponseWriter, r *http.Request, _ <-chan struct{}) {
			_, _ = io.Copy(io.Discard, r.Body)
			time.Sleep(600 * time.Millisecond)
			w.WriteHeader(http.StatusNoContent)
		}, exitOK, "restore: sent 64.0 MiB"},
		{"upload stalls", func(w http.ResponseWriter, r *http.Request, release <-chan struct{}) {
			_, _ = r.Body.Read(make([]byte, 1))
			<-release
		}, exitError, "kwctl: restore: transfer stalled: nothing moved for 300ms (--timeout)\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			url, caFile := serveTLS(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/api/v1/health/state" {
					_, _ = io.WriteString(w, `{"state":"Locked"}`)
					return
				}
				tc.handler(w, r, release)
			})
			t.Cleanup(func() { close(release) }) // runs before the server's Close
			res := runKwctl(t, map[string]string{"KEYWARDEN_BACKUP_PASSPHRASE": "b"}, "",
				"--url", url, "--ca", caFile, "--timeout", "300ms", "restore", "--file", large)
			if res.code != tc.wantCode || !strings.Contains(res.stderr, tc.wantStderr) {
				t.Errorf("got code %d, stderr %q; want %d and %q", res.code, res.stderr, tc.wantCode, tc.wantStderr)
			}
		})
	}
}

// TestMeter drives the progress lines with a clock that advances 300 ms
// per call: one line per second at most, with the rate since the last.
func TestMeter(t *testing.T) {
	tests := []struct {
		name  string
		total int64
		want  string
	}{
		{"size unknown", 0, "backup: 4.0 MiB, 3.3 MiB/s\nbackup: 8.0 MiB, 3.3 MiB/s\nbackup: wrote 10.0 MiB in 3.3s (3.0 MiB/s) done\n"},
		{"size known", 10 << 20, "backup: 40% (4.0 MiB of 10.0 MiB), 3.3 MiB/s\nbackup: 80% (8.0 MiB of 10.0 MiB), 3.3 MiB/s\n" +
			"backup: wrote 10.0 MiB in 3.3s (3.0 MiB/s) done\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := time.Unix(0, 0)
			now := func() time.Time { clock = clock.Add(300 * time.Millisecond); return clock }
			var out bytes.Buffer
			m := newMeter(&out, now, "backup", tc.total)
			for range 10 {
				m.add(1 << 20)
			}
			m.summary("wrote", " done")
			if out.String() != tc.want {
				t.Errorf("progress:\n got %q\nwant %q", out.String(), tc.want)
			}
		})
	}
}

func TestFormatBytes(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"},
		{5 << 20, "5.0 MiB"}, {3 << 30, "3.0 GiB"}, {2 << 40, "2.0 TiB"}, {3 << 50, "3.0 PiB"}, {3 << 60, "3072.0 PiB"},
	}
	for _, tc := range tests {
		if got := formatBytes(tc.n); got != tc.want {
			t.Errorf("formatBytes(%d): got %q, want %q", tc.n, got, tc.want)
		}
	}
}

// serveTLS starts an HTTPS server with h and returns its API URL and a file
// with its certificate, for answers the apiRecorder cannot give.
func serveTLS(t *testing.T, h http.HandlerFunc) (url, caFile string) {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	return srv.URL + "/api/v1", writeTemp(t, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
}
