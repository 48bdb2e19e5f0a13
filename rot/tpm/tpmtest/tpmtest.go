// Package tpmtest runs software TPMs for tests: Start launches a private
// swtpm on loopback ports and stops it when the test ends, and the helpers
// change or inspect a TPM the way a test needs (extend a PCR, list handles).
// swtpm serves one connection at a time, so call the helpers that take a
// device only while no root of trust is open on it.
package tpmtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/keywarden/keywarden/rot/tpm"
)

const (
	startTimeout = 10 * time.Second
	callTimeout  = 10 * time.Second
	attempts     = 5 // ports are chosen free but may be taken before swtpm binds them
)

// Start launches swtpm with a fresh state directory on free loopback ports,
// waits until it accepts commands and returns its device string
// ("tcp:127.0.0.1:PORT") for tpm.Config.Device. The TPM is manufactured on
// first use and started (TPM2_Startup(CLEAR)) by swtpm itself, so clients
// must not power it on. It is killed when the test ends. Start skips the
// test only when swtpm is not installed.
func Start(t testing.TB) string {
	t.Helper()
	device, _ := Launch(t)
	return device
}

// Launch is Start that also returns a function stopping swtpm early, for
// tests of a TPM that disappears. Stopping twice is harmless.
func Launch(t testing.TB) (device string, stop func()) {
	t.Helper()
	bin := binary(t)
	var last error
	for range attempts {
		port, err := freePortPair()
		if err != nil {
			t.Fatalf("tpmtest: find free ports: %v", err)
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		stop, err := launch(t, bin, "tcp", addr,
			"--server", "type=tcp,port="+strconv.Itoa(port),
			"--ctrl", "type=tcp,port="+strconv.Itoa(port+1))
		if err == nil {
			return "tcp:" + addr, stop
		}
		last = err
	}
	t.Fatalf("tpmtest: start swtpm: %v", last)
	return "", nil
}

// StartUnix is Start with swtpm listening on a Unix socket; it returns
// "unix:PATH".
func StartUnix(t testing.TB) string {
	t.Helper()
	bin := binary(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "swtpm.sock")
	_, err := launch(t, bin, "unix", sock,
		"--server", "type=unixio,path="+sock,
		"--ctrl", "type=unixio,path="+filepath.Join(dir, "ctrl.sock"))
	if err != nil {
		t.Fatalf("tpmtest: start swtpm: %v", err)
	}
	return "unix:" + sock
}

// binary returns swtpm's path or skips the test.
func binary(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("swtpm")
	if err != nil {
		t.Skip("swtpm not installed: apt-get install swtpm swtpm-tools (make test installs it)")
	}
	return bin
}

// launch starts swtpm with the given channel arguments, waits until addr on
// network accepts connections and stops swtpm at cleanup.
func launch(t testing.TB, bin, network, addr string, channels ...string) (stop func(), err error) {
	t.Helper()
	var out bytes.Buffer
	args := append([]string{"socket", "--tpm2"}, channels...)
	args = append(args, "--tpmstate", "dir="+t.TempDir(), "--flags", "not-need-init,startup-clear")
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	var once sync.Once
	stop = func() { once.Do(func() { _ = cmd.Process.Kill(); <-exited }) }
	if err := waitAccepting(network, addr, exited); err != nil {
		stop()
		return nil, fmt.Errorf("%w (swtpm output: %q)", err, out.String())
	}
	t.Cleanup(stop)
	return stop, nil
}

// waitAccepting waits until addr accepts a connection, swtpm exits (its port
// was taken) or startTimeout passes. swtpm treats the probe as a client that
// connected and left.
func waitAccepting(network, addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("swtpm exited while starting on %s", addr)
		default:
		}
		c, err := net.DialTimeout(network, addr, time.Second)
		if err == nil {
			return c.Close()
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("swtpm did not accept connections on %s within %v", addr, startTimeout)
}

// freePortPair returns a port p such that p and p+1 were both free.
func freePortPair() (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		p := l.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+1)))
		l.Close()
		if err == nil {
			l2.Close()
			return p, nil
		}
	}
	return 0, fmt.Errorf("no two consecutive free ports")
}

// ExtendPCR connects to device and extends its SHA-256 PCR pcr with the
// SHA-256 of data, as a boot component's measurement would.
func ExtendPCR(t testing.TB, device string, pcr int, data []byte) {
	t.Helper()
	With(t, device, func(tr transport.TPM) error { return Extend(tr, pcr, data) })
}

// Extend extends the SHA-256 PCR pcr with the SHA-256 of data.
func Extend(tr transport.TPM, pcr int, data []byte) error {
	digest := sha256.Sum256(data)
	_, err := tpm2.PCRExtend{
		PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(pcr), Auth: tpm2.PasswordAuth(nil)},
		Digests: tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{{
			HashAlg: tpm2.TPMAlgSHA256, Digest: digest[:],
		}}},
	}.Execute(tr)
	if err != nil {
		return fmt.Errorf("extend PCR %d: %w", pcr, err)
	}
	return nil
}

// With connects to device, runs fn and disconnects, failing the test on any
// error. A device still held by another connection fails after callTimeout
// instead of hanging the test.
func With(t testing.TB, device string, fn func(tr transport.TPM) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	tr, err := tpm.Dial(ctx, device)
	if err != nil {
		t.Fatalf("tpmtest: %v", err)
	}
	defer tr.Close()
	if d, ok := tr.(interface{ SetDeadline(time.Time) error }); ok {
		_ = d.SetDeadline(time.Now().Add(callTimeout))
	}
	if err := fn(tr); err != nil {
		t.Fatalf("tpmtest: %s: %v (is a root of trust still open on it? swtpm serves one connection at a time)", device, err)
	}
}

// Handles lists the TPM's handles of one type (tpm2.TPMHTTransient for loaded
// objects, tpm2.TPMHTPersistent, tpm2.TPMHTHMACSession for loaded sessions,
// tpm2.TPMHTPolicySession for saved ones).
func Handles(tr transport.TPM, kind tpm2.TPMHT) ([]tpm2.TPMHandle, error) {
	var all []tpm2.TPMHandle
	for next := uint32(kind) << 24; ; {
		rsp, err := tpm2.GetCapability{Capability: tpm2.TPMCapHandles, Property: next, PropertyCount: 64}.Execute(tr)
		if err != nil {
			return nil, fmt.Errorf("list handles from %#x: %w", next, err)
		}
		hs, err := rsp.CapabilityData.Data.Handles()
		if err != nil {
			return nil, fmt.Errorf("list handles: %w", err)
		}
		for _, h := range hs.Handle {
			if tpm2.TPMHT(h>>24) != kind {
				return all, nil
			}
			all = append(all, h)
		}
		if !rsp.MoreData || len(hs.Handle) == 0 {
			return all, nil
		}
		next = uint32(hs.Handle[len(hs.Handle)-1]) + 1
	}
}

// DeviceHandles connects to device and lists its handles of one type.
func DeviceHandles(t testing.TB, device string, kind tpm2.TPMHT) []tpm2.TPMHandle {
	t.Helper()
	var hs []tpm2.TPMHandle
	With(t, device, func(tr transport.TPM) (err error) {
		hs, err = Handles(tr, kind)
		return err
	})
	return hs
}
