package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"time"

	"github.com/keywarden/keywarden/appliance/client"
)

// restoreAnswerLimit bounds the wait for the answer to a restore once the
// whole file is sent: only then has the appliance checked the file to its
// end, and it applies the contents after that.
const restoreAnswerLimit = 10 * time.Minute

const (
	backupSummary = "write a backup of the appliance to FILE (needs a user with the Backup role; " +
		"--timeout limits stalls, not the whole transfer)"
	restoreSummary = "restore a backup: everything on an Unprovisioned appliance (no login; it ends Locked), " +
		"users, keys and namespaces on an Operational one (log in as an Administrator)"
)

// transferClient builds the client of a backup or restore: --timeout must
// not cut a transfer that is long only because the file is large, so a
// stallGuard applies it instead.
func (a *app) transferClient(auth bool) (*client.Client, error) {
	b := *a
	b.g.timeout = 0
	return b.client(auth)
}

// cmdBackup writes into FILE.partial and renames it only once the whole
// stream arrived, so FILE is never a cut-off backup.
func cmdBackup(ctx context.Context, a *app, args []string) error {
	fl := a.newFlags()
	out := fl.String("out", "", "write the backup to `FILE` (required)")
	force := fl.Bool("force", false, "replace FILE if it exists")
	if _, err := a.parse(fl, args, 0, 0); err != nil {
		return err
	}
	if *out == "" {
		return usagef("backup: --out is required")
	}
	if _, err := os.Lstat(*out); err == nil && !*force {
		return usagef("backup: %s exists; add --force to replace it", *out)
	}
	c, err := a.transferClient(true)
	if err != nil {
		return err
	}
	partial := *out + ".partial"
	f, err := createPartial(partial, *force)
	if err != nil {
		return err
	}
	m := newMeter(a.stderr, a.now, "backup", 0)
	if err := a.receiveBackup(ctx, c, f, m); err != nil {
		_ = os.Remove(partial)
		return err
	}
	if err := os.Rename(partial, *out); err != nil {
		_ = os.Remove(partial)
		return fmt.Errorf("backup: %w", err)
	}
	m.summary("wrote", "")
	return a.done("backup written to %s", *out)
}

// createPartial creates the file a backup is received in, readable by its
// owner only. An existing one may belong to a backup still running, so it
// is replaced only with --force.
func createPartial(name string, force bool) (*os.File, error) {
	if force {
		if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("backup: %w", err)
		}
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("backup: %s exists: another backup may be writing it, or one was interrupted; "+
			"remove it or add --force", name)
	}
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	return f, nil
}

// receiveBackup streams the backup into f, makes it durable and closes f.
func (a *app) receiveBackup(ctx context.Context, c *client.Client, f *os.File, m *meter) error {
	tctx, guard, stop := guardStalls(ctx, a.g.timeout)
	defer stop()
	w := progressWriter{w: f, moved: func(n int) { guard.moved(); m.add(n) }}
	_, err := c.Backup(tctx, w)
	if err == nil {
		err = f.Sync() // the backup must outlive a crash right after kwctl reports it
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return transferError(tctx, "backup", err)
	}
	return nil
}

func cmdRestore(ctx context.Context, a *app, args []string) error {
	fl := a.newFlags()
	file := fl.String("file", "", "read the backup from `FILE` (required)")
	timeFlag := fl.String("system-time", "", "set the appliance clock to `RFC3339-TIME` (default: this machine's time)")
	passFile := fl.String("backup-passphrase-file", "", "read the backup passphrase from `FILE` (else env KEYWARDEN_BACKUP_PASSPHRASE)")
	if _, err := a.parse(fl, args, 0, 0); err != nil {
		return err
	}
	if *file == "" {
		return usagef("restore: --file is required")
	}
	restoreArgs, err := a.restoreArgs(*timeFlag, *passFile)
	if err != nil {
		return err
	}
	f, size, err := openBackup(*file)
	if err != nil {
		return err
	}
	defer f.Close()
	// As for cluster status: a login only when a user is given, since an
	// Unprovisioned appliance has no users to log in as.
	auth := a.g.user != ""
	c, err := a.transferClient(auth)
	if err != nil {
		return err
	}
	if err := a.sendBackup(ctx, c, restoreArgs, f, size); err != nil {
		if client.StatusCode(err) == http.StatusUnauthorized && !auth {
			return fmt.Errorf("%w (an appliance that is not Unprovisioned takes a restore only from an Administrator: use --user)", err)
		}
		return err
	}
	return a.restored(ctx, c)
}

// restoreArgs resolves the clock (default: now) and the backup passphrase.
func (a *app) restoreArgs(systemTime, passFile string) (client.RestoreArgs, error) {
	args := client.RestoreArgs{SystemTime: a.now()}
	if systemTime != "" {
		t, err := time.Parse(time.RFC3339, systemTime)
		if err != nil {
			return args, usagef("restore: --system-time: %v", err)
		}
		args.SystemTime = t
	}
	pass, err := a.secret(backupSource(passFile))
	args.BackupPassphrase = pass
	return args, err
}

func openBackup(name string) (*os.File, int64, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, 0, fmt.Errorf("restore: %w", err)
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file", name)
	}
	if err != nil {
		_ = f.Close()
		return nil, 0, fmt.Errorf("restore: %w", err)
	}
	return f, st.Size(), nil
}

// sendBackup uploads the backup with progress as a share of its size.
func (a *app) sendBackup(ctx context.Context, c *client.Client, args client.RestoreArgs, r io.Reader, size int64) error {
	tctx, guard, stop := guardStalls(ctx, a.g.timeout)
	defer stop()
	m := newMeter(a.stderr, a.now, "restore", size)
	src := &progressReader{r: r, moved: func(n int) { guard.moved(); m.add(n) }, end: func() {
		m.summary("sent", "; the appliance checks and applies it")
		guard.awaitAnswer(restoreAnswerLimit)
	}}
	if err := c.Restore(tctx, args, src); err != nil {
		return transferError(tctx, "restore", err)
	}
	return nil
}

// restored reports the outcome with the state the restore left, which
// tells the operator what to do next.
func (a *app) restored(ctx context.Context, c *client.Client) error {
	state, err := c.State(ctx)
	switch {
	case err != nil:
		return a.done("restored (state unknown: %v)", err)
	case state == client.StateLocked:
		return a.done("restored; the appliance is Locked: unlock it with the unlock passphrase of the appliance the backup was made on")
	default:
		return a.done("restored; the appliance is %s", state)
	}
}

// progressWriter reports every write that moved bytes.
type progressWriter struct {
	w     io.Writer
	moved func(n int)
}

func (p progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	if n > 0 {
		p.moved(n)
	}
	return n, err
}

// progressReader reports every read that moved bytes, and the end of the
// input once.
type progressReader struct {
	r     io.Reader
	moved func(n int)
	end   func()
	ended bool
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.moved(n)
	}
	if err == io.EOF && !p.ended {
		p.ended = true
		p.end()
	}
	return n, err
}
