package appliance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/keywarden/keywarden/appliance/api"
	"github.com/keywarden/keywarden/appliance/backupfile"
	"github.com/keywarden/keywarden/appliance/keyring"
	"github.com/keywarden/keywarden/appliance/keystore"
	"github.com/keywarden/keywarden/appliance/users"
	"github.com/keywarden/keywarden/cluster"
	"golang.org/x/sys/unix"
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
	// data directory: the store holds at most 2 GiB (etcd's quota), so a
	// larger backup could never be restored.
	maxBackupSize = 2 << 30
	// spoolReserve is the free space a spooled upload must leave in the data
	// directory, which the store shares.
	spoolReserve = 512 << 20
	// maxEntryBytes bounds one restored entry: etcd refuses requests over
	// 1.5 MiB, and stored values are far smaller.
	maxEntryBytes = 1 << 20
	// maxRestoreBytes bounds what a restore writes, below the store's quota.
	maxRestoreBytes = 1536 << 20
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
	// The node configuration is sealed under the domain key first, while a
	// Lock (which clears that key) cannot interleave.
	a.opMu.Lock()
	s := a.currentSession()
	var nodeConfig []cluster.Entry
	var err error
	if s != nil {
		nodeConfig, err = a.backupNodeConfig(ctx, s)
	}
	a.opMu.Unlock()
	if s == nil {
		return fmt.Errorf("%w: the appliance is not Operational", api.ErrPrecondition)
	}
	if err != nil {
		return fmt.Errorf("back up this node's configuration: %w", err)
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
	// Entries go out in key order (restores refuse anything else, which
	// rules out duplicates); this node's configuration takes its place in
	// that order.
	addNodeConfig := func() error {
		for _, e := range nodeConfig {
			if err := bw.Add(e.Key, e.Value); err != nil {
				return err
			}
		}
		nodeConfig = nil
		return nil
	}
	_, err = a.kv.Scan(ctx, storeRoot, rev, backupPage, func(e cluster.Entry) error {
		// Restored node configuration not yet imported is another node's.
		if !inBackup(e.Key) || strings.HasPrefix(e.Key, nodeConfigPrefix) {
			return nil
		}
		if e.Key > nodeConfigPrefix {
			if err := addNodeConfig(); err != nil {
				return err
			}
		}
		return bw.Add(e.Key, e.Value)
	})
	if err == nil {
		err = addNodeConfig()
	}
	if err != nil {
		return fmt.Errorf("back up the store: %w", err)
	}
	if a.currentSession() != s {
		return fmt.Errorf("%w: the appliance was locked during the backup", api.ErrPrecondition)
	}
	if err := bw.Close(); err != nil {
		return err
	}
	a.log.Info("backup written", "entries", bw.Entries(), "revision", rev)
	return nil
}

// SpoolBackup implements api.Backend: it copies an uploaded backup into a
// file without a name in the data directory (O_TMPFILE: it holds only
// ciphertext, and vanishes when closed, or with the process, whatever
// happens), so that a restore can read it twice: once to authenticate and
// check all of it, once to apply it. One restore runs at a time (409
// otherwise), and the upload must leave spoolReserve free.
func (a *Appliance) SpoolBackup(ctx context.Context, r io.Reader) (io.ReadSeekCloser, error) {
	if !a.restoring.CompareAndSwap(false, true) {
		return nil, fmt.Errorf("%w: another restore is in progress", api.ErrConflict)
	}
	f, err := a.spool(r)
	if err != nil {
		a.restoring.Store(false)
		return nil, err
	}
	return &spooled{File: f, done: func() { a.restoring.Store(false) }}, nil
}

func (a *Appliance) spool(r io.Reader) (*os.File, error) {
	fd, err := unix.Open(a.cfg.DataDir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool the backup: %w", err)
	}
	f := os.NewFile(uintptr(fd), "restore upload")
	n, err := io.Copy(&spaceGuard{f: f, dir: a.cfg.DataDir}, io.LimitReader(r, maxBackupSize+1))
	if err == nil && n > maxBackupSize {
		err = fmt.Errorf("%w: the backup file is larger than %d GiB, more than the store can hold", api.ErrTooLarge, maxBackupSize>>30)
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

// spooled is a spooled upload; closing it ends the restore's turn.
type spooled struct {
	*os.File
	done func()
	once sync.Once
}

func (s *spooled) Close() error {
	err := s.File.Close()
	s.once.Do(s.done)
	return err
}

// spaceGuard refuses writes that would leave less than spoolReserve free
// in dir, checking every 16 MiB.
type spaceGuard struct {
	f       *os.File
	dir     string
	unknown int64 // bytes written since the last check
}

func (g *spaceGuard) Write(p []byte) (int, error) {
	if g.unknown == 0 || g.unknown+int64(len(p)) > 16<<20 {
		var st unix.Statfs_t
		if err := unix.Statfs(g.dir, &st); err != nil {
			return 0, err
		}
		if free := int64(st.Bavail) * st.Bsize; free-int64(len(p)) < spoolReserve {
			return 0, fmt.Errorf("%w: the data directory has too little free space to take the backup file (%d MiB free, %d MiB must stay free)", api.ErrTooLarge, free>>20, spoolReserve>>20)
		}
		g.unknown = 0
	}
	n, err := g.f.Write(p)
	g.unknown += int64(n)
	return n, err
}

// Restore implements api.Backend. The whole file is authenticated and
// checked before anything changes: a truncated, altered or foreign file,
// or a wrong passphrase, is refused with the appliance exactly as it was.
// On an Unprovisioned appliance it restores the whole store, which then
// ends Locked, unlockable with the backup's unlock passphrase; on an
// Operational one it restores users, namespaces and keys, and only from a
// backup of the same domain (the values are sealed under its key).
func (a *Appliance) Restore(ctx context.Context, args api.RestoreArgs, file io.ReadSeeker) error {
	// The key is derived before the state lock, so that a slow derivation
	// (an upload's own parameters) cannot hold up provisioning or unlocking.
	key, err := backupKeyFor(file, args.BackupPassphrase)
	if err != nil {
		return err
	}
	defer clear(key)
	a.opMu.Lock()
	defer a.opMu.Unlock()
	st, _ := a.State()
	var s *session
	switch {
	case st == api.Unprovisioned && !args.Authenticated:
	case st == api.Operational && args.Authenticated:
		if s = a.currentSession(); s == nil {
			return fmt.Errorf("%w: the appliance was locked during the restore", api.ErrPrecondition)
		}
	default:
		// Also a request admitted in one state that finds another (an
		// anonymous upload to an Unprovisioned appliance that became
		// Operational meanwhile): its admission does not hold any more.
		return fmt.Errorf("%w: the appliance is %s; a restore needs an Unprovisioned appliance (no credentials) or an Operational one (an Administrator); send it again", api.ErrPrecondition, st)
	}
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
	// No costlier than what appliances use themselves: an anonymous upload
	// must not buy more work than a real backup asks for.
	top := keyring.DefaultKDF
	if err := p.Validate(); err != nil || p.Time > top.Time || p.MemoryKiB > top.MemoryKiB || p.Threads > top.Threads {
		return nil, fmt.Errorf("%w: the backup asks for key derivation parameters this appliance does not use (%+v)", api.ErrBadRequest, p)
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
// checks what a restore would write, so that the store cannot refuse it
// midway: entries in strictly ascending key order (no duplicates), only
// entries a backup holds, none larger than the store takes, not more than
// it holds, a domain key check and a well-formed unlock slot. For a partial
// restore (s not nil) every entry it would write must be sealed under this
// appliance's domain key: written by this domain, not merely by someone
// with the backup passphrase.
func (a *Appliance) checkBackup(file io.ReadSeeker, key []byte, s *session) (restorePlan, error) {
	var plan restorePlan
	r, err := readBackup(file, key)
	if err != nil {
		return plan, err
	}
	if err := json.Unmarshal(r.Meta(), &plan.meta); err != nil || plan.meta.Format != backupFormat {
		return plan, fmt.Errorf("%w: the backup's metadata is not a Keywarden store backup", api.ErrBadRequest)
	}
	var check, slot []byte
	var prev string
	var total int64
	for {
		k, v, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return plan, backupError(err)
		}
		if err := checkEntry(k, v, prev); err != nil {
			return plan, err
		}
		if s != nil && partial(k) {
			plain, err := s.vault.Open(k, v)
			if err != nil {
				return plan, a.foreignDomain()
			}
			clear(plain)
		}
		switch k {
		case pathDomainCheck:
			check = v
		case pathUnlockSlot:
			slot = v
		}
		prev = k
		total += int64(len(k) + len(v))
		plan.entries++
	}
	if total > maxRestoreBytes {
		return plan, fmt.Errorf("%w: the backup holds %d MiB, more than the store takes (%d MiB)", api.ErrBadRequest, total>>20, maxRestoreBytes>>20)
	}
	var w keyring.WrappedKey
	if check == nil || slot == nil || json.Unmarshal(slot, &w) != nil || w.KDF.Validate() != nil {
		return plan, fmt.Errorf("%w: the backup has no domain key check or no usable unlock slot; it is not a backup of a provisioned appliance", api.ErrBadRequest)
	}
	if s != nil {
		if _, err := s.vault.Open(pathDomainCheck, check); err != nil {
			return plan, a.foreignDomain()
		}
	}
	return plan, nil
}

// checkEntry checks one entry of a backup, prev being the one before.
func checkEntry(k string, v []byte, prev string) error {
	switch {
	case k <= prev:
		return fmt.Errorf("%w: the backup's entries are not in key order (%q after %q)", api.ErrBadRequest, k, prev)
	case !inBackup(k) || (strings.HasPrefix(k, nodeConfigPrefix) && !portableEntry(k)):
		return fmt.Errorf("%w: the backup holds an entry outside the store's backed-up part (%q)", api.ErrBadRequest, k)
	case len(k)+len(v) > maxEntryBytes:
		return fmt.Errorf("%w: the backup's entry %q is larger than the store takes", api.ErrBadRequest, k)
	}
	return nil
}

// partial reports whether a partial restore writes key k.
func partial(k string) bool {
	for _, p := range partialRestore {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// foreignDomain is the refusal of a partial restore from another domain.
func (a *Appliance) foreignDomain() error {
	where := "this appliance"
	if a.peered.Load() {
		where = "this cluster"
	}
	return fmt.Errorf("%w: the backup comes from another domain (another cluster, or an appliance provisioned separately): its keys are sealed under a domain key %s does not have. Restore it on an Unprovisioned appliance instead (factory reset; in a cluster, restore on one reset node and join the others to it, see docs/backup-restore.md); nothing was restored", api.ErrBadRequest, where)
}

// restoreFull writes the whole backup into the store of an Unprovisioned
// appliance. Whatever such a store holds outside the node-local part is
// left over from an interrupted provisioning or restore (there is no
// unlock slot, so nothing can read it) and is removed first. The unlock
// slot goes last: until it exists the appliance stays Unprovisioned, so a
// restore that stops midway never leaves a half-restored Locked appliance;
// what it wrote is removed again.
func (a *Appliance) restoreFull(ctx context.Context, file io.ReadSeeker, key []byte, plan restorePlan, systemTime time.Time) error {
	if err := a.clearLeftovers(ctx); err != nil {
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
		if uerr := a.clearLeftovers(context.WithoutCancel(ctx)); uerr != nil {
			return fmt.Errorf("restore failed after %d entries: %w; removing them failed too (%v); they are removed at the next provisioning or restore", n, err, uerr)
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

// clearLeftovers deletes every entry an Unprovisioned store should not
// have: all but node-local entries and heartbeats (see restoreFull). It
// must only run while Unprovisioned, with a.opMu held.
func (a *Appliance) clearLeftovers(ctx context.Context) error {
	b := txnBatch{kv: a.kv}
	_, err := a.kv.Scan(ctx, storeRoot, 0, backupPage, func(e cluster.Entry) error {
		if !inBackup(e.Key) {
			return nil
		}
		return b.add(ctx, cluster.Delete(e.Key), len(e.Key))
	})
	if err == nil {
		err = b.flush(ctx)
	}
	if err != nil {
		return fmt.Errorf("remove the entries an interrupted provisioning or restore left: %w", err)
	}
	if b.written > 0 {
		a.log.Warn("removed entries an interrupted provisioning or restore left in the store", "entries", b.written)
	}
	return nil
}

// restorePartial writes the backup's users, namespaces and keys into the
// store, replacing those with the same names; others stay.
func (a *Appliance) restorePartial(ctx context.Context, file io.ReadSeeker, key []byte, plan restorePlan) error {
	n, err := a.applyBackup(ctx, file, key, func(k string, _ []byte) bool { return partial(k) })
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
	b := txnBatch{kv: a.kv}
	for {
		k, v, err := r.Next()
		if errors.Is(err, io.EOF) {
			return b.written, b.flush(ctx)
		}
		if err != nil { // checked before, so the file changed underneath
			return b.written, backupError(err)
		}
		if want(k, v) {
			if err := b.add(ctx, cluster.Put(k, v), len(k)+len(v)); err != nil {
				return b.written, err
			}
		}
	}
}

// txnBatch writes operations in transactions of at most restoreBatch
// operations and restoreBatchBytes, the store's request limits.
type txnBatch struct {
	kv      cluster.KV
	ops     []cluster.Op
	size    int
	written int // operations committed
}

// add queues op, of size bytes, committing the queue first when op would
// not fit.
func (b *txnBatch) add(ctx context.Context, op cluster.Op, size int) error {
	if len(b.ops) == restoreBatch || b.size+size > restoreBatchBytes {
		if err := b.flush(ctx); err != nil {
			return err
		}
	}
	b.ops = append(b.ops, op)
	b.size += size
	return nil
}

// flush commits what is queued.
func (b *txnBatch) flush(ctx context.Context) error {
	if len(b.ops) == 0 {
		return nil
	}
	if _, err := b.kv.Txn(ctx, nil, b.ops); err != nil {
		return err
	}
	b.written += len(b.ops)
	b.ops, b.size = b.ops[:0], 0
	return nil
}
