// Package apptest runs the real keywardend binary for end-to-end tests: it
// builds (or finds) the binary, starts it in a temporary data directory on a
// free loopback port, waits until the API answers, and stops it when the test
// ends. Tests drive it over real HTTPS.
package apptest

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keywarden/keywarden/appliance/client"
)

var (
	buildMu sync.Mutex
	built   = map[string]string{}
)

// Binary returns the keywardend binary: $KEYWARDEN_BIN when set (the Makefile
// sets it), otherwise one built once per test process.
func Binary(t testing.TB) string { return binary(t, "keywardend", "KEYWARDEN_BIN") }

// Kwctl returns the kwctl binary: $KWCTL_BIN when set, otherwise one built
// once per test process.
func Kwctl(t testing.TB) string { return binary(t, "kwctl", "KWCTL_BIN") }

func binary(t testing.TB, name, env string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built[name]; ok {
		return p
	}
	p, err := build(name)
	if err != nil {
		t.Fatalf("build %s: %v", name, err)
	}
	built[name] = p
	return p
}

func build(name string) (string, error) {
	root, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "keywarden-bin-")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, "./cmd/"+name)
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(root)))
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%v: %s", err, b)
	}
	return out, nil
}

// Daemon is one running keywardend.
type Daemon struct {
	t       testing.TB
	bin     string
	spawn   func(cmd *exec.Cmd) error
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	DataDir string
	Addr    string // host:port of the API
	URL     string // https://host:port/api/v1
	Args    []string
	Env     []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	logs *LogBuffer // stderr of every run, appended
	done chan error
}

// Options adjust Start.
type Options struct {
	DataDir string   // empty: a new temporary directory
	Args    []string // extra flags
	// Env is added to the daemon's environment (for example NOTIFY_SOCKET).
	Env []string
	// NoWait returns as soon as the process started, without waiting for the
	// API (for tests of start-up itself).
	NoWait bool
	// StrongKDF keeps the production Argon2id cost; by default tests use
	// --insecure-test-kdf so they run fast.
	StrongKDF bool
	// Listen is the --listen address; empty means a free loopback port. A
	// daemon in another network namespace needs one the test can reach
	// there: through Dial, or (without it) with NoWait, since the start-up
	// wait then polls from the test's own namespace.
	Listen string
	// Spawn starts the prepared command on every (re)start; nil means
	// cmd.Start. A test starts it from a thread inside another network
	// namespace this way, which the child process inherits.
	Spawn func(cmd *exec.Cmd) error
	// Dial opens the test's connections to the daemon (the start-up wait
	// and Client); nil means a plain TCP dialer. With Spawn it lets a test
	// reach a daemon inside another network namespace.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Start runs keywardend and waits until its API answers. The daemon is
// stopped, and must have exited cleanly, when the test ends.
func Start(t testing.TB, opts Options) *Daemon {
	t.Helper()
	d := &Daemon{t: t, bin: Binary(t), spawn: opts.Spawn, dial: opts.Dial, DataDir: opts.DataDir, Env: opts.Env, logs: &LogBuffer{}}
	if d.spawn == nil {
		d.spawn = (*exec.Cmd).Start
	}
	if d.DataDir == "" {
		d.DataDir = filepath.Join(t.TempDir(), "data")
	}
	d.Addr = opts.Listen
	if d.Addr == "" {
		d.Addr = freeAddr(t)
	}
	d.URL = "https://" + d.Addr + "/api/v1"
	// --clock offset: tests run as root, and must never set the host's clock.
	d.Args = append([]string{"--data-dir", d.DataDir, "--listen", d.Addr, "--rot", "soft", "--log-level", "debug", "--clock", "offset"}, opts.Args...)
	if !opts.StrongKDF {
		d.Args = append(d.Args, "--insecure-test-kdf")
	}
	d.start(!opts.NoWait)
	t.Cleanup(func() {
		if d.Running() {
			d.Stop()
		}
	})
	return d
}

func (d *Daemon) start(wait bool) {
	d.t.Helper()
	cmd := exec.Command(d.bin, d.Args...)
	cmd.Env = append(os.Environ(), d.Env...)
	cmd.Stdout = d.logs
	cmd.Stderr = d.logs
	if err := d.spawn(cmd); err != nil {
		d.t.Fatalf("start keywardend: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	d.mu.Lock()
	d.cmd, d.done = cmd, done
	d.mu.Unlock()
	if wait {
		d.waitServing(15 * time.Second)
	}
}

// waitServing polls /health/state until it answers.
func (d *Daemon) waitServing(limit time.Duration) {
	d.t.Helper()
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DialContext: d.dial}}
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case err := <-d.done:
			d.t.Fatalf("keywardend exited during start: %v\n%s", err, d.Logs())
		default:
		}
		if resp, err := hc.Get(d.URL + "/health/state"); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.t.Fatalf("keywardend did not serve within %v\n%s", limit, d.Logs())
}

// Running reports whether the process is alive.
func (d *Daemon) Running() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil {
		return false
	}
	select {
	case err := <-d.done:
		d.done <- err
		return false
	default:
		return true
	}
}

// take hands over the running process and its exit channel (nil when
// stopped): whoever takes it ends it.
func (d *Daemon) take() (*exec.Cmd, chan error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	cmd, done := d.cmd, d.done
	d.cmd = nil
	return cmd, done
}

// Stop sends SIGTERM and fails the test unless the daemon exits cleanly
// within 5 seconds. It returns how long the shutdown took.
func (d *Daemon) Stop() time.Duration {
	d.t.Helper()
	cmd, done := d.take()
	if cmd == nil {
		return 0
	}
	start := time.Now()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			d.t.Errorf("keywardend exited with %v after SIGTERM\n%s", err, d.Logs())
		}
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		d.t.Errorf("keywardend did not stop within 5 s of SIGTERM\n%s", d.Logs())
	}
	return time.Since(start)
}

// Kill ends the daemon with SIGKILL, as a crash or a power cut would, and
// waits until the process is gone.
func (d *Daemon) Kill() {
	d.t.Helper()
	cmd, done := d.take()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		d.t.Errorf("keywardend did not exit within 10 s of SIGKILL")
	}
}

// Start starts a stopped daemon again and waits until its API answers.
func (d *Daemon) Start() {
	d.t.Helper()
	d.start(true)
}

// FreeAddr returns a loopback host:port that was free a moment ago (for
// peer listeners).
func FreeAddr(t testing.TB) string { return freeAddr(t) }

// StartNoWait starts a stopped daemon again without waiting for its API (for
// measuring start-up).
func (d *Daemon) StartNoWait() {
	d.t.Helper()
	d.start(false)
}

// Restart stops and starts the daemon on the same data directory and port.
func (d *Daemon) Restart() {
	d.t.Helper()
	d.Stop()
	d.start(true)
}

// WaitExit waits for the process to exit by itself (after a shutdown request).
func (d *Daemon) WaitExit(limit time.Duration) error {
	d.t.Helper()
	d.mu.Lock()
	done := d.done
	d.mu.Unlock()
	select {
	case err := <-done:
		d.mu.Lock()
		d.cmd = nil
		d.mu.Unlock()
		return err
	case <-time.After(limit):
		return fmt.Errorf("keywardend still running after %v", limit)
	}
}

// PID returns the process ID of the running daemon (0 when stopped).
func (d *Daemon) PID() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil || d.cmd.Process == nil {
		return 0
	}
	return d.cmd.Process.Pid
}

// Logs returns everything the daemon wrote so far.
func (d *Daemon) Logs() string { return d.logs.String() }

// Client returns an API client for the daemon, authenticated as user when
// user is not empty. The appliance's self-signed certificate is trusted by
// fetching it once (tests run on loopback).
func (d *Daemon) Client(user, passphrase string) *client.Client {
	d.t.Helper()
	c, err := client.New(client.Options{URL: d.URL, User: user, Passphrase: passphrase, Insecure: true, Timeout: 30 * time.Second, DialContext: d.dial})
	if err != nil {
		d.t.Fatalf("client: %v", err)
	}
	d.t.Cleanup(func() { _ = c.Close() })
	return c
}

// Context returns a context bounded for one test step.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// LogBuffer collects output written by several goroutines (a child's
// stderr, a logger); it is safe for concurrent use.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
