package main

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

const (
	// readyTimeout bounds how long a fresh keywardend may take to serve.
	readyTimeout = 30 * time.Second
	// stopGrace is how long keywardend gets to exit after SIGTERM.
	stopGrace = 5 * time.Second
	// logTailBytes is how much of the daemon's log an error quotes.
	logTailBytes = 2048
)

// daemon is a keywardend started by kwbench in a temporary directory.
type daemon struct {
	cmd     *exec.Cmd
	dir     string
	addr    string
	logPath string
	exited  chan struct{} // closed when the process has exited
	waitErr error         // set before exited is closed
	stopped bool
}

// startDaemon starts the keywardend binary at path on a free loopback port
// with a fresh data directory and waits until it completes TLS handshakes.
// It returns the PEM of the certificate the daemon presented: a child we
// started on loopback is trusted on first use, and pinned from then on.
func startDaemon(ctx context.Context, path string) (*daemon, []byte, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, nil, fmt.Errorf("keywardend binary: %w (build it, or pass -daemon or -url)", err)
	}
	dir, err := os.MkdirTemp("", "kwbench-")
	if err != nil {
		return nil, nil, fmt.Errorf("create temp dir: %w", err)
	}
	d := &daemon{dir: dir, logPath: filepath.Join(dir, "keywardend.log"), exited: make(chan struct{})}
	if err := d.start(path); err != nil {
		_ = os.RemoveAll(dir)
		return nil, nil, err
	}
	cert, err := d.waitReady(ctx)
	if err != nil {
		d.stop()
		return nil, nil, err
	}
	return d, cert, nil
}

func (d *daemon) start(path string) error {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	d.addr = addr
	logf, err := os.Create(d.logPath)
	if err != nil {
		return fmt.Errorf("create daemon log: %w", err)
	}
	defer logf.Close() // the child keeps its own descriptor
	d.cmd = exec.Command(path, "--data-dir", filepath.Join(d.dir, "data"), "--listen", addr,
		"--insecure-test-kdf", "--log-level", "warn", "--clock", "offset") // never set the host clock
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	stopWithParent(d.cmd)
	if err := d.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", path, err)
	}
	go func() {
		d.waitErr = d.cmd.Wait()
		close(d.exited)
	}()
	return nil
}

// freeLoopbackAddr returns a loopback address whose port was free a moment
// ago. Another process may take it before keywardend binds it; then the
// daemon exits and waitReady says so.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr, nil
}

// url is the API base of the daemon.
func (d *daemon) url() string { return "https://" + d.addr + "/api/v1" }

// pid is the daemon's process ID, for CPU accounting.
func (d *daemon) pid() int { return d.cmd.Process.Pid }

// waitReady polls with TLS handshakes until one succeeds and returns the
// presented certificate as PEM.
func (d *daemon) waitReady(ctx context.Context) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	for {
		cert, err := peerCertificate(ctx, d.addr)
		if err == nil {
			return cert, nil
		}
		select {
		case <-d.exited:
			return nil, fmt.Errorf("keywardend exited before serving (%v): %s", d.waitErr, d.logTail())
		case <-ctx.Done():
			return nil, fmt.Errorf("keywardend not serving after %s: %w: %s", readyTimeout, err, d.logTail())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func peerCertificate(ctx context.Context, addr string) ([]byte, error) {
	// Verification is skipped only to learn the certificate of the child
	// we just started on loopback; every later connection pins it.
	dialer := &tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil, errors.New("no server certificate")
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certs[0].Raw}), nil
}

// logTail returns the end of the daemon's log for error messages.
func (d *daemon) logTail() string {
	b, err := os.ReadFile(d.logPath)
	if err != nil {
		return "(no daemon log: " + err.Error() + ")"
	}
	if len(b) > logTailBytes {
		b = b[len(b)-logTailBytes:]
	}
	return strings.TrimSpace(string(b))
}

// stop terminates the daemon (SIGTERM, then SIGKILL after stopGrace) and
// removes its directory. It is idempotent.
func (d *daemon) stop() {
	if d.stopped {
		return
	}
	d.stopped = true
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(stopGrace):
		_ = d.cmd.Process.Kill()
		<-d.exited
	}
	_ = os.RemoveAll(d.dir)
}
