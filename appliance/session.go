package appliance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/keywarden/keywarden/appliance/api"
	"github.com/keywarden/keywarden/appliance/keyring"
	"github.com/keywarden/keywarden/appliance/keystore"
	"github.com/keywarden/keywarden/appliance/users"
	"github.com/keywarden/keywarden/appliance/vault"
	"github.com/keywarden/keywarden/cluster"
)

// slotUnlock is the role of the unlock-passphrase slot of the domain key.
const slotUnlock = "unlock"

// pathDomainCheck holds a known value sealed under the domain key, so a key
// unsealed by the root of trust is proven right before the appliance serves
// with it.
const pathDomainCheck = "/kw/v1/domain/check"

var domainCheck = []byte("keywarden domain key check v1")

// session is the Operational state: the domain key and the stores it opens.
type session struct {
	api.Session
	vault     *vault.Vault
	domainKey []byte
	cancel    context.CancelFunc
	barrier   *barrier
}

// invalidateAll drops every cached key and credential.
func (s *session) invalidateAll() {
	s.Keys.Invalidate("")
	s.Users.Invalidate("")
}

// Session implements api.Backend.
func (a *Appliance) Session() *api.Session {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.sess == nil {
		return nil
	}
	return &a.sess.Session
}

// openSession opens the stores with the domain key and enters Operational.
func (a *Appliance) openSession(domainKey []byte) error {
	sealer, err := keyring.NewSubSealer(domainKey, keyring.PurposeStore)
	if err != nil {
		return err
	}
	v := vault.New(a.kv, sealer)
	if err := checkDomainKey(v); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &session{
		Session: api.Session{
			Users: users.NewDirectory(v, keyring.NewKey(), a.kdf),
			Keys:  keystore.New(v),
		},
		vault:     v,
		domainKey: domainKey,
		cancel:    cancel,
	}
	s.barrier = newBarrier(a.kv, s.invalidateAll)
	s.Sync = func(ctx context.Context) error {
		if !a.peered.Load() {
			return nil // alone: every write is this node's, and updates the caches itself
		}
		return s.barrier.sync(ctx)
	}
	// Watch before serving, so no write made from now on can be missed.
	if rev, err := a.kv.Revision(ctx); err == nil {
		s.barrier.applied(rev)
	}
	events := a.kv.Watch(ctx, "/kw/v1/")
	go watchCaches(ctx, a.kv, s, events)
	a.mu.Lock()
	a.sess = s
	a.mu.Unlock()
	a.setState(api.Operational, "")
	return nil
}

// checkDomainKey opens the check value; a store provisioned before the check
// existed has none, which is accepted.
func checkDomainKey(v *vault.Vault) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	it, err := v.Get(ctx, pathDomainCheck)
	switch {
	case errors.Is(err, cluster.ErrNotFound):
		return nil
	case errors.Is(err, keyring.ErrOpen), err == nil && !bytes.Equal(it.Value, domainCheck):
		return errors.New("the domain key does not open this appliance's store")
	}
	return err
}

func (a *Appliance) closeSession() {
	a.mu.Lock()
	s := a.sess
	a.sess = nil
	a.mu.Unlock()
	if s != nil {
		s.cancel()
		clear(s.domainKey)
	}
}

// watchCaches keeps the session caches coherent with writes made elsewhere
// (other nodes of a cluster). If the watch breaks, it watches again and only
// then drops every cache, because events may have been missed in between.
func watchCaches(ctx context.Context, kv cluster.KV, s *session, events <-chan cluster.Event) {
	for {
		for ev := range events {
			switch {
			case strings.HasPrefix(ev.Key, keystore.KeyPrefix) && ev.Deleted:
				s.Keys.Forget(ev.Key)
			case strings.HasPrefix(ev.Key, keystore.KeyPrefix), strings.HasPrefix(ev.Key, keystore.CertPrefix):
				s.Keys.Invalidate(ev.Key)
			case strings.HasPrefix(ev.Key, users.UserPrefix), strings.HasPrefix(ev.Key, users.NamespacePrefix):
				s.Users.Invalidate(strings.TrimPrefix(ev.Key, users.UserPrefix))
			}
			if ev.LastOfRevision {
				s.barrier.applied(ev.Revision)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
		events = kv.Watch(ctx, "/kw/v1/")
		s.invalidateAll()
	}
}

// Provision implements api.Backend: it creates the domain key, its unlock
// slot and the admin user in one transaction and enters Operational.
func (a *Appliance) Provision(ctx context.Context, unlockPass, adminPass string, systemTime time.Time) error {
	a.opMu.Lock()
	defer a.opMu.Unlock()
	if st, _ := a.State(); st != api.Unprovisioned {
		return fmt.Errorf("%w: the appliance is %s, not Unprovisioned", api.ErrPrecondition, st)
	}
	if err := a.clearLeftovers(ctx); err != nil {
		return err
	}
	domainKey := keyring.NewKey()
	slot, err := keyring.Wrap(slotUnlock, domainKey, unlockPass, a.kdf)
	if err != nil {
		return err
	}
	slotJSON, err := json.Marshal(slot)
	if err != nil {
		return err
	}
	sealer, err := keyring.NewSubSealer(domainKey, keyring.PurposeStore)
	if err != nil {
		return err
	}
	dir := users.NewDirectory(vault.New(a.kv, sealer), keyring.NewKey(), a.kdf)
	cond, adminOp, err := dir.CreateOp(users.User{ID: "admin", RealName: "Administrator", Role: users.Administrator}, adminPass)
	if err != nil {
		return err
	}
	conds := []cluster.Cond{cluster.Absent(pathUnlockSlot), cond}
	check := vault.New(a.kv, sealer).Put(pathDomainCheck, domainCheck)
	if _, err := a.kv.Txn(ctx, conds, []cluster.Op{cluster.Put(pathUnlockSlot, slotJSON), adminOp, check}); err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	if err := writeFileAtomic(a.path(fileUnlockSlot), slotJSON); err != nil {
		a.log.Warn("provision: the local copy of the unlock slot was not written", "err", err)
	}
	if err := a.SetTime(ctx, systemTime); err != nil {
		a.log.Warn("provision: system time not stored", "err", err)
	}
	a.log.Info("appliance provisioned")
	return a.openSession(domainKey)
}

// readUnlockSlot reads the unlock slot from the store. Only when the store is
// not running at all, or the node is Failed and its store has no quorum,
// does it fall back to the local copy: a store that is merely slow must not
// resurrect a replaced passphrase.
func (a *Appliance) readUnlockSlot(ctx context.Context) (keyring.WrappedKey, int64, error) {
	var slot keyring.WrappedKey
	var raw []byte
	var rev int64
	if a.kv != nil {
		e, err := a.kv.Get(ctx, pathUnlockSlot)
		st, _ := a.State()
		switch {
		case errors.Is(err, cluster.ErrNotFound):
			return slot, 0, fmt.Errorf("%w: the appliance is not provisioned", api.ErrPrecondition)
		case errors.Is(err, cluster.ErrUnavailable) && st == api.Failed:
			// A cluster member without quorum: the last unlock slot this
			// node knew authenticates recovery (force-new, reboot, reset).
		case err != nil:
			return slot, 0, fmt.Errorf("read the unlock slot: %w", err)
		default:
			raw, rev = e.Value, e.ModRevision
		}
	}
	if raw == nil {
		b, err := os.ReadFile(a.path(fileUnlockSlot))
		if err != nil {
			return slot, 0, fmt.Errorf("%w: the unlock slot cannot be read from the store or the data directory", api.ErrUnavailable)
		}
		raw = b
	}
	if err := json.Unmarshal(raw, &slot); err != nil {
		return slot, 0, fmt.Errorf("decode unlock slot: %w", err)
	}
	return slot, rev, nil
}

// unwrapDomainKey opens the unlock slot with passphrase. A wrong passphrase
// wraps api.ErrForbidden.
func (a *Appliance) unwrapDomainKey(ctx context.Context, passphrase string) ([]byte, int64, error) {
	slot, rev, err := a.readUnlockSlot(ctx)
	if err != nil {
		return nil, 0, err
	}
	key, err := slot.Unwrap(slotUnlock, passphrase)
	if errors.Is(err, keyring.ErrWrongPassphrase) {
		return nil, 0, fmt.Errorf("%w: wrong unlock passphrase", api.ErrForbidden)
	}
	return key, rev, err
}

// Unlock implements api.Backend.
// The passphrase is checked before taking the state lock, so a flood of wrong
// guesses (each an Argon2id run) cannot queue up behind it.
func (a *Appliance) Unlock(ctx context.Context, passphrase string) error {
	if st, _ := a.State(); st != api.Locked {
		return fmt.Errorf("%w: the appliance is %s, not Locked", api.ErrPrecondition, st)
	}
	key, _, err := a.unwrapDomainKey(ctx, passphrase)
	if err != nil {
		return err
	}
	a.opMu.Lock()
	defer a.opMu.Unlock()
	if st, _ := a.State(); st != api.Locked {
		clear(key)
		return fmt.Errorf("%w: the appliance is %s, not Locked", api.ErrPrecondition, st)
	}
	a.log.Info("appliance unlocked")
	if err := a.openSession(key); err != nil {
		return err
	}
	a.importNodeConfig(ctx)
	return nil
}

// Lock implements api.Backend.
func (a *Appliance) Lock(ctx context.Context) error {
	a.opMu.Lock()
	defer a.opMu.Unlock()
	if st, _ := a.State(); st != api.Operational {
		return fmt.Errorf("%w: the appliance is %s, not Operational", api.ErrPrecondition, st)
	}
	a.closeSession()
	a.setState(api.Locked, "")
	return nil
}

// VerifyUnlockPassphrase implements api.Backend.
func (a *Appliance) VerifyUnlockPassphrase(ctx context.Context, passphrase string) error {
	key, _, err := a.unwrapDomainKey(ctx, passphrase)
	clear(key)
	return err
}

// SetUnlockPassphrase implements api.Backend: it re-wraps the domain key.
func (a *Appliance) SetUnlockPassphrase(ctx context.Context, current, next string) error {
	a.opMu.Lock()
	defer a.opMu.Unlock()
	key, rev, err := a.unwrapDomainKey(ctx, current)
	if errors.Is(err, api.ErrForbidden) {
		return fmt.Errorf("%w: currentPassphrase is not the unlock passphrase", api.ErrBadRequest)
	}
	if err != nil {
		return err
	}
	defer clear(key)
	slot, err := keyring.Wrap(slotUnlock, key, next, a.kdf)
	if err != nil {
		return err
	}
	slotJSON, err := json.Marshal(slot)
	if err != nil {
		return err
	}
	_, err = a.kv.Txn(ctx, []cluster.Cond{cluster.Unchanged(pathUnlockSlot, rev)}, []cluster.Op{cluster.Put(pathUnlockSlot, slotJSON)})
	if err != nil {
		return fmt.Errorf("store new unlock slot: %w", err)
	}
	return writeFileAtomic(a.path(fileUnlockSlot), slotJSON)
}

// SetBackupPassphrase implements api.Backend. The backup passphrase is stored
// only as an Argon2id verifier; backups derive their key from it.
func (a *Appliance) SetBackupPassphrase(ctx context.Context, current, next string) error {
	s := a.currentSession()
	if s == nil {
		return fmt.Errorf("%w: the appliance is not Operational", api.ErrPrecondition)
	}
	var cond cluster.Cond
	it, err := s.vault.Get(ctx, pathBackup)
	switch {
	case errors.Is(err, cluster.ErrNotFound):
		if current != "" {
			return fmt.Errorf("%w: no backup passphrase is set yet; send currentPassphrase \"\"", api.ErrBadRequest)
		}
		cond = cluster.Absent(pathBackup)
	case err != nil:
		return err
	default:
		var h keyring.PassphraseHash
		if err := json.Unmarshal(it.Value, &h); err != nil {
			return fmt.Errorf("decode backup passphrase: %w", err)
		}
		ok, err := h.Verify(current)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: currentPassphrase is not the backup passphrase", api.ErrBadRequest)
		}
		cond = cluster.Unchanged(pathBackup, it.Revision)
	}
	h, err := keyring.HashPassphrase(next, a.kdf)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(h)
	_, err = s.vault.Txn(ctx, []cluster.Cond{cond}, s.vault.Put(pathBackup, b))
	return err
}

func (a *Appliance) currentSession() *session {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.sess
}

// watchUnlockSlot keeps this node's copy of the unlock slot equal to the
// store's in every state, until ctx ends: a passphrase change made on another
// node replaces it here too, so that without quorum (Failed) only the
// current passphrase authenticates recovery.
func (a *Appliance) watchUnlockSlot(ctx context.Context) {
	for ctx.Err() == nil {
		events := a.kv.Watch(ctx, pathUnlockSlot)
		// A change made while no watch ran (the last one broke, for
		// example when the leader changed) has no event: read the slot once
		// the new watch is registered.
		if e, err := a.kv.Get(ctx, pathUnlockSlot); err == nil {
			a.keepUnlockCopy(e.Value)
		}
		for ev := range events {
			if ev.Key == pathUnlockSlot && !ev.Deleted {
				a.keepUnlockCopy(ev.Value)
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// keepUnlockCopy writes slot as the local copy of the unlock slot unless the
// copy already holds it.
func (a *Appliance) keepUnlockCopy(slot []byte) {
	if cur, err := os.ReadFile(a.path(fileUnlockSlot)); err == nil && bytes.Equal(cur, slot) {
		return
	}
	if err := writeFileAtomic(a.path(fileUnlockSlot), slot); err != nil {
		a.log.Warn("the local copy of the unlock slot was not refreshed", "err", err)
	}
}
