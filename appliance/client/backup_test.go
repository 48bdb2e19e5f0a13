package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

const backupBody = "KWBACKUP\x00\x01 not really encrypted"

func TestBackupWritesTheStream(t *testing.T) {
	rec := newRecorder(t, exchange{method: "POST", uri: "/system/backup", accept: mimeOctet,
		status: 200, respType: mimeOctet, respBody: backupBody})
	var buf bytes.Buffer
	n, err := rec.client(t).Backup(t.Context(), &buf)
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if n != int64(len(backupBody)) || buf.String() != backupBody {
		t.Errorf("Backup: got %d bytes %q, want %d bytes %q", n, buf.String(), len(backupBody), backupBody)
	}
}

func TestBackupFailures(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		respType   string
		respBody   string
		wantStatus int    // of the *APIError; 0 when the error is not one
		wantErr    string // substring
	}{
		{"role missing", 403, mimeJSON, `{"message":"user op is a Operator; this needs Backup"}`, 403, "this needs Backup"},
		{"no backup passphrase", 412, mimeJSON, `{"message":"no backup passphrase is set"}`, 412, "no backup passphrase is set"},
		{"200 of another type", 200, "text/html", "<html>login</html>", 0, `answer is "text/html", not application/octet-stream`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(t, exchange{method: "POST", uri: "/system/backup", accept: mimeOctet,
				status: tc.status, respType: tc.respType, respBody: tc.respBody})
			var buf bytes.Buffer
			n, err := rec.client(t).Backup(t.Context(), &buf)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Backup: got error %v, want one containing %q", err, tc.wantErr)
			}
			if got := StatusCode(err); got != tc.wantStatus {
				t.Errorf("StatusCode: got %d, want %d", got, tc.wantStatus)
			}
			if n != 0 || buf.Len() != 0 {
				t.Errorf("written: got %d bytes (%d in buffer), want none", n, buf.Len())
			}
		})
	}
}

// TestBackupCutStreamIsAnError checks both protocols the appliance may
// speak: a server that fails midway aborts the answer, and the bytes that
// did arrive must not pass for a backup.
func TestBackupCutStreamIsAnError(t *testing.T) {
	const sent = 3 << 20
	for _, h2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "http/1.1", true: "http/2"}[h2], func(t *testing.T) {
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", mimeOctet)
				_, _ = w.Write(make([]byte, sent))
				w.(http.Flusher).Flush()
				panic(http.ErrAbortHandler) // how a handler cuts its answer
			}))
			srv.EnableHTTP2 = h2
			srv.StartTLS()
			t.Cleanup(srv.Close)
			c := clientFor(t, srv)
			n, err := c.Backup(t.Context(), io.Discard)
			if err == nil || !strings.Contains(err.Error(), "broke off") {
				t.Fatalf("Backup of a cut stream: got %d bytes, error %v; want a broken-off error", n, err)
			}
			if n != sent {
				t.Errorf("bytes before the cut: got %d, want %d", n, sent)
			}
		})
	}
}

func TestBackupWriteErrorIsNamed(t *testing.T) {
	rec := newRecorder(t, exchange{method: "POST", uri: "/system/backup", accept: mimeOctet,
		status: 200, respType: mimeOctet, respBody: backupBody})
	diskFull := errors.New("no space left on device")
	_, err := rec.client(t).Backup(t.Context(), failingWriter{diskFull})
	if !errors.Is(err, diskFull) || !strings.HasPrefix(err.Error(), "write backup after 0 bytes") {
		t.Errorf("Backup into a full disk: got %v, want a write error wrapping %v", err, diskFull)
	}
}

// TestBackupCancelledIsAnError cancels the backup while the whole answer
// has already arrived: the cancellation, not the clean end, decides.
func TestBackupCancelledIsAnError(t *testing.T) {
	rec := newRecorder(t, exchange{method: "POST", uri: "/system/backup", accept: mimeOctet,
		status: 200, respType: mimeOctet, respBody: backupBody})
	ctx, cancel := context.WithCancelCause(t.Context())
	stopped := errors.New("operator pressed ctrl-c")
	w := cancellingWriter{cancel: func() { cancel(stopped) }}
	if _, err := rec.client(t).Backup(ctx, w); !errors.Is(err, stopped) {
		t.Errorf("Backup cancelled midway: got %v, want an error wrapping %v", err, stopped)
	}
}

// cancellingWriter cancels on its first write, then accepts everything.
type cancellingWriter struct{ cancel func() }

func (c cancellingWriter) Write(p []byte) (int, error) {
	c.cancel()
	return len(p), nil
}

type failingWriter struct{ err error }

func (f failingWriter) Write([]byte) (int, error) { return 0, f.err }

func TestRestoreWireFormat(t *testing.T) {
	when := time.Date(2026, 3, 4, 5, 6, 7, 800_000_000, time.FixedZone("CET", 3600))
	parts := checkKeyForm([]wantPart{
		{"arguments", mimeJSON, `{"backupPassphrase":"backup pass","systemTime":"2026-03-04T04:06:07Z"}`},
		{"backup_file", mimeOctet, backupBody},
	})
	rec := newRecorder(t, exchange{method: "POST", uri: "/system/restore", contentType: mimeForm, accept: mimeJSON,
		check: func(t *testing.T, r *http.Request, body []byte) {
			parts(t, r, body)
			// Servers that parse forms keep a part without a file name in memory.
			if !bytes.Contains(body, []byte(`name="backup_file"; filename="backup"`)) {
				t.Errorf("backup_file part: no file name in %q", body)
			}
		},
		status: 204})
	args := RestoreArgs{BackupPassphrase: "backup pass", SystemTime: when}
	if err := rec.client(t).Restore(t.Context(), args, strings.NewReader(backupBody)); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if rec.hits.Load() != 1 {
		t.Errorf("requests: got %d, want 1", rec.hits.Load())
	}
}

func TestRestoreZeroTimeSendsNow(t *testing.T) {
	var sent RestoreArgs
	rec := newRecorder(t, exchange{method: "POST", uri: "/system/restore", contentType: mimeForm, accept: mimeJSON,
		check: func(t *testing.T, r *http.Request, body []byte) {
			args := body[bytes.Index(body, []byte(`{"backupPassphrase"`)):]
			if err := json.NewDecoder(bytes.NewReader(args)).Decode(&sent); err != nil {
				t.Fatalf("arguments: %v", err)
			}
		},
		status: 204})
	before := time.Now().Add(-time.Second)
	if err := rec.client(t).Restore(t.Context(), RestoreArgs{BackupPassphrase: "p"}, strings.NewReader(backupBody)); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if sent.SystemTime.Before(before) || sent.SystemTime.After(time.Now()) {
		t.Errorf("systemTime: got %v, want about now", sent.SystemTime)
	}
}

// TestRestoreStreamsLargeFile uploads 50 MB from a reader that can be read
// only once and checks that the client never holds a sizeable part of it:
// the heap is sampled while the body is being read.
func TestRestoreStreamsLargeFile(t *testing.T) {
	const size = 50 << 20
	want := sha256.New()
	_, _ = io.Copy(want, &patternReader{left: size})
	type received struct {
		size int64
		sum  []byte
	}
	results := make(chan received, 1)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mr, err := r.MultipartReader()
		if err != nil {
			t.Errorf("multipart reader: %v", err)
			return
		}
		_, _ = mr.NextPart() // arguments; checked in TestRestoreWireFormat
		file, err := mr.NextPart()
		if err != nil {
			t.Errorf("backup_file part: %v", err)
			return
		}
		h := sha256.New()
		n, err := io.Copy(h, file)
		if err != nil {
			t.Errorf("read backup_file: %v", err)
		}
		results <- received{n, h.Sum(nil)}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	src := &patternReader{left: size, sampleHeap: true}
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	if err := clientFor(t, srv).Restore(t.Context(), RestoreArgs{BackupPassphrase: "p"}, src); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if got := <-results; got.size != size || !bytes.Equal(got.sum, want.Sum(nil)) {
		t.Fatalf("server received %d bytes with sha256 %x, want %d bytes with %x", got.size, got.sum, size, want.Sum(nil))
	}
	if grew := int64(src.peakHeap) - int64(base.HeapInuse); grew > 16<<20 {
		t.Errorf("heap in use grew by %d MiB while streaming %d MiB, want under 16 MiB", grew>>20, size>>20)
	}
}

// patternReader yields left bytes of a fixed pattern, once. With sampleHeap
// it records the peak heap in use, every MiB.
type patternReader struct {
	left, read int64
	sampleHeap bool
	peakHeap   uint64
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.left)]
	for i := range b {
		b[i] = byte((p.read + int64(i)) % 251)
	}
	if p.sampleHeap && p.read>>20 != (p.read+int64(len(b)))>>20 {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		p.peakHeap = max(p.peakHeap, m.HeapInuse)
	}
	p.left -= int64(len(b))
	p.read += int64(len(b))
	return len(b), nil
}

func TestRestoreErrorAnswers(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		wantErr string
	}{
		{"wrong passphrase", 400, `{"message":"the backup passphrase does not open this backup"}`, "400 Bad Request: the backup passphrase does not open this backup"},
		{"truncated file", 400, `{"message":"backup file is truncated"}`, "400 Bad Request: backup file is truncated"},
		{"wrong state", 412, `{"message":"appliance is Locked"}`, "412 Precondition Failed: appliance is Locked"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(t, exchange{method: "POST", uri: "/system/restore", contentType: mimeForm, accept: mimeJSON,
				check:  func(*testing.T, *http.Request, []byte) {},
				status: tc.status, respType: mimeJSON, respBody: tc.body})
			err := rec.client(t).Restore(t.Context(), RestoreArgs{BackupPassphrase: "p"}, strings.NewReader(backupBody))
			if err == nil || err.Error() != tc.wantErr || StatusCode(err) != tc.status {
				t.Errorf("Restore: got %v (status %d), want %q", err, StatusCode(err), tc.wantErr)
			}
		})
	}
}

// TestRestoreEarlyRefusal checks that an answer sent before the body was
// read (credentials refused) ends the upload instead of sending it all.
func TestRestoreEarlyRefusal(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "http/1.1", true: "http/2"}[h2], func(t *testing.T) {
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", mimeJSON)
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = io.WriteString(w, `{"message":"credentials required"}`)
			}))
			srv.EnableHTTP2 = h2
			srv.StartTLS()
			t.Cleanup(srv.Close)
			src := &patternReader{left: 1 << 30}
			err := clientFor(t, srv).Restore(t.Context(), RestoreArgs{BackupPassphrase: "p"}, src)
			if StatusCode(err) != http.StatusUnauthorized {
				t.Fatalf("Restore: got %v, want a 401 answer", err)
			}
			if src.read > 64<<20 {
				t.Errorf("read from the file after the refusal: got %d MiB, want little", src.read>>20)
			}
		})
	}
}

func TestRestoreReportsSourceError(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent) // never reached with a whole body
	}))
	t.Cleanup(srv.Close)
	ioErr := errors.New("input/output error")
	src := io.MultiReader(&patternReader{left: 1 << 20}, failingReader{ioErr})
	err := clientFor(t, srv).Restore(t.Context(), RestoreArgs{BackupPassphrase: "p"}, src)
	if !errors.Is(err, ioErr) || !strings.HasPrefix(err.Error(), "read backup: ") {
		t.Errorf("Restore with a failing source: got %v, want a read error wrapping %v", err, ioErr)
	}
}

type failingReader struct{ err error }

func (f failingReader) Read([]byte) (int, error) { return 0, f.err }

func clientFor(t *testing.T, srv *httptest.Server) *Client {
	t.Helper()
	c, err := New(Options{URL: srv.URL + "/api/v1", User: testUser, Passphrase: testPass, CACertPEM: certPEM(srv)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
