package appliance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/keywarden/keywarden/appliance/api"
	"github.com/keywarden/keywarden/appliance/backupfile"
	"github.com/keywarden/keywarden/appliance/keyring"
	"github.com/keywarden/keywarden/appliance/keystore"
	"github.com/keywarden/keywarden/appliance/users"
	"github.com/keywarden/keywarden/cluster"
)

// A backup is the cluster's store as it is at one revision: every entry
// under storeRoot except this node's and other nodes' node-local entries
// and heartbeats, each value exactly as stored (sealed under the domain key
// with its path as associated data), inside a backupfile sealed under the
// backup key. The file alone reveals nothing: opening it needs the backup
// passphrase, and using what is inside needs the unlock passphrase too.
// docs/backup-format.md describes the file.

const (
	storeRoot = "/kw/v1/"
	// backupPage is how many entries a backup reads from the store at once.
	backupPage = 256
	// restoreBatch bounds one restore transaction (etcd allows 128
	// operations, and 1.5 MiB, per request).
	restoreBatch      = 64
	restoreBatchBytes = 512 << 10
	// maxBackupSize bounds an uploaded backup, which is spooled to the
	// data directory.
	maxBackupSize = 8 << 30
)

// notBackedUp are the store prefixes a backup leaves out: node-local
// entries are sealed under their node's device key and mean nothing
// elsewhere; heartbeats are transient.
var notBackedUp = []string{storeRoot + "local/", statusPrefix}

// partialRestore are the prefixes a restore on an Operational appliance
// writes: users, namespaces and keys, as the reference does.
var partialRestore = []string{users.UserPrefix, users.NamespacePrefix, keystore.KeyPrefix, keystore.CertPrefix}

func inBackup(key string) bool {
	if !strings.HasPrefix(key, storeRoot) {
		return false
	}
	for _, p := range notBackedUp {
		if strings.HasPrefix(key, p) {
			return false
		}
	}
	return true
}

// backupMeta is the backup's metadata record.
type backupMeta struct {
	Format   string    `json:"format"` // "keywarden-store"
	Created  time.Time `json:"created"`
	Node     string    `json:"node"`
	Software string    `json:"software"`
	Revision int64     `json:"revision"` // the store revision it was taken at
}

const backupFormat = "keywarden-store"

// Backup implements api.Backend: the backup of the cluster's data, streamed
// into w as it is read. Preconditions are checked before anything is
// written; a failure later leaves w with a truncated file, which any
// reader refuses.
func (a *Appliance) Backup(ctx context.Context, w io.Writer) error {
	s := a.currentSession()
	if s == nil {
		return fmt.Errorf("%w: the appliance is not Operational", api.ErrPrecondition)
	}
	h, err := a.backupKey(ctx, s)
	if err != nil {
		return err
	}
	rev, err := a.kv.Revision(ctx)
	if err != nil {
		return err
	}
	meta, err := json.Marshal(backupMeta{Format: backupFormat, Created: a.Now().UTC(), Node: a.nodeID, Software: Version, Revision: rev})
	if err != nil {
		return err
	}
	kdf := backupfile.KDF{Alg: backupfile.KDFArgon2id, Time: h.KDF.Time, MemoryKiB: h.KDF.MemoryKiB, Threads: h.KDF.Threads}
	bw, err := backupfile.NewWriter(w, h.Hash, kdf, h.Salt, meta)
	if err != nil {
		return fmt.Errorf("start the backup: %w", err)
	}
	_, err = a.kv.Scan(ctx, storeRoot, backupPage, func(e cluster.Entry) error {
		// Restored node configuration not yet imported is another node's:
		// the backup carries this node's (below).
		if !inBackup(e.Key) || strings.HasPrefix(e.Key, nodeConfigPrefix) {
			return nil
		}
		return bw.Add(e.Key, e.Value)
	})
	if err != nil {
		return fmt.Errorf("back up the store: %w", err)
	}
	nodeConfig, err := a.backupNodeConfig(ctx, s)
	if err != nil {
		return fmt.Errorf("back up this node's configuration: %w", err)
	}
	for _, e := range nodeConfig {
		if err := bw.Add(e.Key, e.Value); err != nil {
			return err
		}
	}
	if err := bw.Close(); err != nil {
		return err
	}
	a.log.Info("backup written", "entries", bw.Entries(), "revision", rev)
	return nil
}

// SpoolBackup implements api.Backend: it copies an uploaded backup into an
// unnamed file in the data directory (it holds only ciphertext), so that a
// restore can read it twice, once to authenticate all of it and once to
// apply it. The file disappears when closed, or with the process.
func (a *Appliance) SpoolBackup(ctx context.Context, r io.Reader) (io.ReadSeekCloser, error) {
	f, err := os.CreateTemp(a.cfg.DataDir, ".restore-*")
	if err != nil {
		return nil, fmt.Errorf("spool the backup: %w", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("spool the backup: %w", err)
	}
	n, err := io.Copy(f, io.LimitReader(r, maxBackupSize+1))
	if err == nil && n > maxBackupSize {
		err = fmt.Errorf("%w: the backup file is larger than %d GiB", api.ErrBadRequest, maxBackupSize>>30)
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("receive the backup file: %w", err)
	}
	return f, nil
}

// Restore implements api.Backend. The whole file is authenticated and
// checked before anything changes: a truncated, altered or foreign file,
// or a wrong passphrase, is refused with the appliance exactly as it was.
// On an Unprovisioned appliance it restores the whole store, which then
// ends Locked, unlockable with the backup's unlock passphrase; on an
// Operational one it restores users, namespaces and keys, and only from a
// backup of the same domain (the values are sealed under its key).
func (a *Appliance) Restore(ctx context.Context, args api.RestoreArgs, file io.ReadSeeker) error {
	a.opMu.Lock()
	defer a.opMu.Unlock()
	st, _ := a.State()
	var s *session
	switch st {
	case api.Unprovisioned:
	case api.Operational:
		if s = a.currentSession(); s == nil {
			return fmt.Errorf("%w: the appliance was locked during the restore", api.ErrPrecondition)
		}
	default:
		return fmt.Errorf("%w: a restore needs an Unprovisioned or Operational appliance, this one is %s", api.ErrPrecondition, st)
	}
	key, err := backupKeyFor(file, args.BackupPassphrase)
	if err != nil {
		return err
	}
	defer clear(key)
	plan, err := a.checkBackup(file, key, s)
	if err != nil {
		return err
	}
	if s == nil {
		return a.restoreFull(ctx, file, key, plan, args.SystemTime)
	}
	return a.restorePartial(ctx, file, key, plan)
}

// backupKeyFor derives the backup key from passphrase with the file's own
// KDF parameters, which must be within what the appliance itself accepts.
func backupKeyFor(file io.ReadSeeker, passphrase string) ([]byte, error) {
	o, err := openBackup(file)
	if err != nil {
		return nil, err
	}
	h := o.Header()
	p := keyring.KDFParams{Time: h.KDF.Time, MemoryKiB: h.KDF.MemoryKiB, Threads: h.KDF.Threads}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%w: the backup asks for key derivation parameters this appliance does not accept: %v", api.ErrBadRequest, err)
	}
	return keyring.Derive(passphrase, h.Salt, p)
}

// openBackup reads the header of the backup in file, from its start.
func openBackup(file io.ReadSeeker) (*backupfile.Opener, error) {
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	o, err := backupfile.ReadHeader(file)
	if err != nil {
		return nil, backupError(err)
	}
	return o, nil
}

// readBackup opens the backup in file with key, from its start.
func readBackup(file io.ReadSeeker, key []byte) (*backupfile.Reader, error) {
	o, err := openBackup(file)
	if err != nil {
		return nil, err
	}
	r, err := o.Open(key)
	if errors.Is(err, backupfile.ErrWrongKey) {
		return nil, fmt.Errorf("%w: wrong backup passphrase (or a backup taken under another one)", api.ErrBadRequest)
	}
	if err != nil {
		return nil, backupError(err)
	}
	return r, nil
}

// backupError makes the reader's refusals 400s; they all mean the file is
// unusable.
func backupError(err error) error {
	for _, e := range []error{backupfile.ErrNotBackup, backupfile.ErrVersion, backupfile.ErrFormat,
		backupfile.ErrTampered, backupfile.ErrTruncated, backupfile.ErrWrongKey} {
		if errors.Is(err, e) {
			return fmt.Errorf("%w: %v; nothing was restored", api.ErrBadRequest, err)
		}
	}
	return err
}

// restorePlan is what the checking pass learned.
type restorePlan struct {
	meta    backupMeta
	entries int
}

// checkBackup reads the whole backup, authenticating every chunk, and
// checks its contents: only entries a backup holds, a domain check and an
// unlock slot, and for a partial restore (s not nil) a domain check that
// this appliance's domain key opens.
func (a *Appliance) checkBackup(file io.ReadSeeker, key []byte, s *session) (restorePlan, error) {
	var plan restorePlan
	r, err := readBackup(file, key)
	if err != nil {
		return plan, err
	}
	if err := json.Unmarshal(r.Meta(), &plan.meta); err != nil || plan.meta.Format != backupFormat {
		return plan, fmt.Errorf("%w: the backup's metadata is not a Keywarden store backup", api.ErrBadRequest)
	}
	var check []byte
	hasSlot := false
	for {
		k, v, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return plan, backupError(err)
		}
		if !inBackup(k) || (strings.HasPrefix(k, nodeConfigPrefix) && !slices.Contains(portableLocal, strings.TrimPrefix(k, nodeConfigPrefix))) {
			return plan, fmt.Errorf("%w: the backup holds an entry outside the store's backed-up part (%q)", api.ErrBadRequest, k)
		}
		switch k {
		case pathDomainCheck:
			check = v
		case pathUnlockSlot:
			hasSlot = true
		}
		plan.entries++
	}
	if check == nil || !hasSlot {
		return plan, fmt.Errorf("%w: the backup has no domain key check or unlock slot; it is not a backup of a provisioned appliance", api.ErrBadRequest)
	}
	if s != nil {
		if _, err := s.vault.Open(pathDomainCheck, check); err != nil {
			return plan, a.foreignDomain()
		}
	}
	return plan, nil
}

// foreignDomain is the refusal of a partial restore from another domain.
func (a *Appliance) foreignDomain() error {
	where := "this appliance"
	if a.peered.Load() {
		where = "this cluster"
	}
	return fmt.Errorf("%w: the backup comes from another domain (another cluster, or an appliance provisioned separately): its keys are sealed under a domain key %s does not have. Restore it on an Unprovisioned appliance instead (factory reset; in a cluster, restore on one reset node and join the others to it, see docs/backup-restore.md); nothing was restored", api.ErrBadRequest, where)
}

// errStoreNotEmpty ends the emptiness check of a full restore.
var errStoreNotEmpty = errors.New("store not empty")

// restoreFull writes the whole backup into the empty store of an
// Unprovisioned appliance. The unlock slot goes last: until it exists the
// appliance stays Unprovisioned, so a restore that stops midway never
// leaves a half-restored Locked appliance; what it wrote is removed again.
func (a *Appliance) restoreFull(ctx context.Context, file io.ReadSeeker, key []byte, plan restorePlan, systemTime time.Time) error {
	_, err := a.kv.Scan(ctx, storeRoot, 16, func(e cluster.Entry) error {
		if inBackup(e.Key) {
			return errStoreNotEmpty
		}
		return nil
	})
	if errors.Is(err, errStoreNotEmpty) {
		return fmt.Errorf("%w: the store already holds data (left by an interrupted provisioning or restore); factory reset the appliance first", api.ErrPrecondition)
	}
	if err != nil {
		return err
	}
	var slot []byte
	n, err := a.applyBackup(ctx, file, key, func(k string, v []byte) bool {
		if k == pathUnlockSlot {
			slot = v
			return false
		}
		return true
	})
	if err == nil {
		_, err = a.kv.Txn(ctx, []cluster.Cond{cluster.Absent(pathUnlockSlot)}, []cluster.Op{cluster.Put(pathUnlockSlot, slot)})
	}
	if err != nil {
		if uerr := a.unrestore(ctx, file, key); uerr != nil {
			return fmt.Errorf("restore failed after %d entries: %w; removing them failed too (%v): factory reset the appliance", n, err, uerr)
		}
		return fmt.Errorf("restore failed after %d entries, which were removed again: %w", n, err)
	}
	if !systemTime.IsZero() {
		if err := a.SetTime(ctx, systemTime); err != nil {
			a.log.Warn("restored, but the system time from the restore request was not set", "err", err)
		}
	}
	a.setState(api.Locked, "")
	a.log.Warn("full restore complete; unlock with the backup's unlock passphrase", "entries", plan.entries, "from", plan.meta.Node, "taken", plan.meta.Created)
	return nil
}

// restorePartial writes the backup's users, namespaces and keys into the
// store, replacing those with the same names; others stay.
func (a *Appliance) restorePartial(ctx context.Context, file io.ReadSeeker, key []byte, plan restorePlan) error {
	n, err := a.applyBackup(ctx, file, key, func(k string, _ []byte) bool {
		for _, p := range partialRestore {
			if strings.HasPrefix(k, p) {
				return true
			}
		}
		return false
	})
	if err != nil {
		return fmt.Errorf("restore stopped after %d entries, which stay written (run the restore again): %w", n, err)
	}
	a.log.Warn("partial restore complete: users, namespaces and keys", "entries", n, "from", plan.meta.Node, "taken", plan.meta.Created)
	return nil
}

// applyBackup writes the entries of the (checked) backup that want
// accepts, in batches, and returns how many it wrote.
func (a *Appliance) applyBackup(ctx context.Context, file io.ReadSeeker, key []byte, want func(k string, v []byte) bool) (int, error) {
	r, err := readBackup(file, key)
	if err != nil {
		return 0, err
	}
	var ops []cluster.Op
	size, written := 0, 0
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		if _, err := a.kv.Txn(ctx, nil, ops); err != nil {
			return err
		}
		written += len(ops)
		ops, size = ops[:0], 0
		return nil
	}
	for {
		k, v, err := r.Next()
		if errors.Is(err, io.EOF) {
			return written, flush()
		}
		if err != nil { // checked before, so the file changed underneath
			return written, backupError(err)
		}
		if !want(k, v) {
			continue
		}
		if len(ops) == restoreBatch || size+len(k)+len(v) > restoreBatchBytes {
			if err := flush(); err != nil {
				return written, err
			}
		}
		ops = append(ops, cluster.Put(k, v))
		size += len(k) + len(v)
	}
}

// unrestore deletes every entry of the backup from the store: the undo of
// a full restore into an empty store.
func (a *Appliance) unrestore(ctx context.Context, file io.ReadSeeker, key []byte) error {
	r, err := readBackup(file, key)
	if err != nil {
		return err
	}
	ctx = context.WithoutCancel(ctx) // the client may be gone; the undo is not
	var ops []cluster.Op
	for {
		k, _, err := r.Next()
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if k != "" {
			ops = append(ops, cluster.Delete(k))
		}
		if len(ops) == restoreBatch || (errors.Is(err, io.EOF) && len(ops) > 0) {
			if _, terr := a.kv.Txn(ctx, nil, ops); terr != nil {
				return terr
			}
			ops = ops[:0]
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
	}
}
