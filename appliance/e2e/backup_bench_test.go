package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keywarden/keywarden/appliance/apptest"
	"github.com/keywarden/keywarden/appliance/client"
)

// BenchmarkBackup prints the backup figures of docs/PERFORMANCE.md (run it
// with -benchtime 1x; make bench does), for two store sizes so that the
// peak memory can be compared:
//
//	bench backup keys=… backup_s=… restore_s=… peak_rss_mb=… backup_rss_growth_mb=… restore_rss_growth_mb=…
//
// peak_rss_mb is the larger of the two daemons' peak resident set during
// the backup (the source) and the restore (a fresh appliance), each peak
// reset just before (/proc/PID/clear_refs); the growth figures are each
// peak minus the resident set at that reset: what the operation itself
// added (the restore's includes one Argon2id derivation, 64 MiB).
func BenchmarkBackup(b *testing.B) {
	for range b.N {
		for _, keys := range []int{1000, 10000} {
			benchBackup(b, keys)
		}
	}
}

func benchBackup(b *testing.B, keys int) {
	opts := apptest.Options{StrongKDF: true, Args: []string{"--log-level", "info"}}
	src := apptest.Start(b, opts)
	ctx := context.Background()
	err := src.Client("", "").Provision(ctx, client.ProvisionRequest{UnlockPassphrase: unlockPass, AdminPassphrase: adminPass, SystemTime: time.Now().UTC()})
	if err != nil {
		b.Fatal(err)
	}
	admin := src.Client("admin", adminPass)
	if err := admin.SetBackupPassphrase(ctx, client.PassphraseChange{NewPassphrase: backupPass}); err != nil {
		b.Fatal(err)
	}
	if err := admin.AddUser(ctx, "bk", client.NewUser{RealName: "bk", Role: "Backup", Passphrase: backupUserPass}); err != nil {
		b.Fatal(err)
	}
	fillKeys(b, admin, keys)

	var file bytes.Buffer
	base := resetPeakRSS(b, src.PID())
	begin := time.Now()
	if _, err := src.Client("bk", backupUserPass).Backup(ctx, &file); err != nil {
		b.Fatalf("backup: %v", err)
	}
	backupTook := time.Since(begin)
	peak := procStatusMiB(b, src.PID(), "VmHWM")
	backupGrowth := peak - base

	dst := apptest.Start(b, opts)
	base = resetPeakRSS(b, dst.PID())
	begin = time.Now()
	err = dst.Client("", "").Restore(ctx, client.RestoreArgs{BackupPassphrase: backupPass, SystemTime: time.Now().UTC()}, bytes.NewReader(file.Bytes()))
	restoreTook := time.Since(begin)
	if err != nil {
		b.Fatalf("restore: %v", err)
	}
	restorePeak := procStatusMiB(b, dst.PID(), "VmHWM")
	fmt.Printf("bench backup keys=%d backup_s=%.2f restore_s=%.2f peak_rss_mb=%.0f backup_rss_growth_mb=%.1f restore_rss_growth_mb=%.1f file_mb=%.1f\n",
		keys, backupTook.Seconds(), restoreTook.Seconds(), max(peak, restorePeak), backupGrowth, restorePeak-base, float64(file.Len())/(1<<20))
}

// fillKeys generates P-256 keys until the appliance holds n.
func fillKeys(b *testing.B, admin *client.Client, n int) {
	var seq atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := seq.Add(1); i <= int64(n); i = seq.Add(1) {
				if err := genKey(context.Background(), admin, fmt.Sprintf("fill%d", i)); err != nil {
					b.Errorf("fill: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}

// resetPeakRSS makes the kernel forget the process's peak resident set,
// and returns the resident set now, in MiB.
func resetPeakRSS(b *testing.B, pid int) float64 {
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		b.Fatalf("reset peak RSS: %v", err)
	}
	return procStatusMiB(b, pid, "VmRSS")
}

// procStatusMiB reads a kB field of /proc/PID/status (VmHWM, VmRSS) in MiB.
func procStatusMiB(b *testing.B, pid int, field string) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb / 1024
		}
	}
	b.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
