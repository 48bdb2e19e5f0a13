package e2e

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keywarden/keywarden/appliance/apptest"
	"github.com/keywarden/keywarden/appliance/client"
	"github.com/keywarden/keywarden/hsm/hsmtest"
	"github.com/keywarden/keywarden/rot/tpm/tpmtest"
)

// BenchmarkBootToReady measures, per root of trust, the time from starting
// keywardend to its READY=1 with unattended boot on: the appliance is
// Operational by then (make bench prints it; docs/PERFORMANCE.md records it).
func BenchmarkBootToReady(b *testing.B) {
	b.Run("soft", func(b *testing.B) { benchBoot(b, nil) })
	b.Run("tpm", func(b *testing.B) {
		device := tpmtest.Start(b)
		benchBoot(b, []string{"--rot", "tpm", "--tpm-device", device})
	})
	b.Run("pkcs11", func(b *testing.B) {
		module, label, pin := hsmtest.NewToken(b, "keywarden-bench")
		pinFile := filepath.Join(b.TempDir(), "pin")
		if err := os.WriteFile(pinFile, []byte(pin), 0o600); err != nil {
			b.Fatal(err)
		}
		benchBoot(b, []string{"--rot", "pkcs11", "--pkcs11-module", module, "--pkcs11-token", label, "--pkcs11-pin-file", pinFile})
	})
}

func benchBoot(b *testing.B, args []string) {
	sock := filepath.Join(b.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	d := apptest.Start(b, apptest.Options{Args: args, Env: []string{"NOTIFY_SOCKET=" + sock}})
	ctx := apptest.Context(b)
	if err := d.Client("", "").Provision(ctx, client.ProvisionRequest{UnlockPassphrase: unlockPass, AdminPassphrase: adminPass, SystemTime: time.Now()}); err != nil {
		b.Fatal(err)
	}
	if err := d.Client("admin", adminPass).SetUnattendedBoot(ctx, "on"); err != nil {
		b.Fatal(err)
	}
	d.Stop()
	buf := make([]byte, 4096)
	b.ResetTimer()
	for range b.N {
		drain(conn, buf)
		d.StartNoWait()
		for {
			_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			n, err := conn.Read(buf)
			if err != nil {
				b.Fatalf("no READY=1: %v\n%s", err, d.Logs())
			}
			if string(buf[:n]) == "READY=1" {
				break
			}
		}
		b.StopTimer()
		if st, err := d.Client("", "").State(ctx); err != nil || st != "Operational" {
			b.Fatalf("state at READY=1: got %q, %v; want Operational", st, err)
		}
		d.Stop()
		b.StartTimer()
	}
}

// drain discards notifications left from earlier runs.
func drain(conn *net.UnixConn, buf []byte) {
	for {
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		if _, err := conn.Read(buf); err != nil {
			return
		}
	}
}
