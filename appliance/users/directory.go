package users

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/keywarden/keywarden/appliance/keyring"
	"github.com/keywarden/keywarden/appliance/vault"
	"github.com/keywarden/keywarden/cluster"
)

// Store paths. Users are keyed by their full ID; "~" cannot occur in a name,
// so root and namespaced users never collide.
const (
	UserPrefix      = "/kw/v1/users/"
	NamespacePrefix = "/kw/v1/namespaces/"
)

// Directory is the store of users and namespaces for one unlocked session. It
// caches opened user records; the cache is kept coherent by Invalidate (called
// on local writes and by the store watch for writes on other nodes).
type Directory struct {
	vault *vault.Vault
	kdf   keyring.KDFParams
	creds *credCache

	mu    sync.Mutex
	gen   uint64 // bumped by every invalidation; guards racing cache fills
	users map[string]cachedUser
}

type cachedUser struct {
	user User
	rev  int64
}

// NewDirectory returns a Directory over v. macKey keys the credential cache;
// kdf is the Argon2id cost for new passphrases.
func NewDirectory(v *vault.Vault, macKey []byte, kdf keyring.KDFParams) *Directory {
	return &Directory{vault: v, kdf: kdf, creds: newCredCache(macKey), users: map[string]cachedUser{}}
}

// Get returns the user with id. Errors wrap ErrNotFound.
func (d *Directory) Get(ctx context.Context, id string) (User, error) {
	u, _, err := d.get(ctx, id)
	return u, err
}

func (d *Directory) get(ctx context.Context, id string) (User, int64, error) {
	d.mu.Lock()
	c, ok := d.users[id]
	gen := d.gen
	d.mu.Unlock()
	if ok {
		return c.user, c.rev, nil
	}
	it, err := d.vault.Get(ctx, UserPrefix+id)
	if errors.Is(err, cluster.ErrNotFound) {
		return User{}, 0, fmt.Errorf("user %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return User{}, 0, fmt.Errorf("read user %q: %w", id, err)
	}
	var u User
	if err := json.Unmarshal(it.Value, &u); err != nil {
		return User{}, 0, fmt.Errorf("decode user %q: %w", id, err)
	}
	u.ID = id
	d.mu.Lock()
	if d.gen == gen {
		d.users[id] = cachedUser{user: u, rev: it.Revision}
	}
	d.mu.Unlock()
	return u, it.Revision, nil
}

// Invalidate drops the cached record and verified credentials of user id, or of
// every user when id is "".
func (d *Directory) Invalidate(id string) {
	d.mu.Lock()
	d.gen++
	if id == "" {
		clear(d.users)
	} else {
		delete(d.users, id)
	}
	d.mu.Unlock()
	d.creds.forget(id)
}

// List returns the IDs of the users in namespace ns (all users when all is set).
func (d *Directory) List(ctx context.Context, ns string, all bool) ([]string, error) {
	entries, err := d.vault.KV().List(ctx, UserPrefix)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	ids := make([]string, 0, len(entries))
	for _, e := range entries {
		id := strings.TrimPrefix(e.Key, UserPrefix)
		if u, _ := SplitID(id); all || u == ns {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// Create stores a new user with passphrase. Errors wrap ErrExists or ErrInvalid.
func (d *Directory) Create(ctx context.Context, u User, passphrase string) error {
	cond, op, err := d.CreateOp(u, passphrase)
	if err != nil {
		return err
	}
	_, err = d.vault.Txn(ctx, []cluster.Cond{cond}, op)
	d.Invalidate(u.ID)
	if errors.Is(err, cluster.ErrConflict) {
		return fmt.Errorf("user %q: %w", u.ID, ErrExists)
	}
	return err
}

// CreateOp validates a new user and returns the condition and operation that
// create it, for callers that must create it atomically with other writes.
func (d *Directory) CreateOp(u User, passphrase string) (cluster.Cond, cluster.Op, error) {
	if err := ValidateUserID(u.ID); err != nil {
		return cluster.Cond{}, cluster.Op{}, err
	}
	if err := ValidatePassphrase("passphrase", passphrase); err != nil {
		return cluster.Cond{}, cluster.Op{}, err
	}
	h, err := keyring.HashPassphrase(passphrase, d.kdf)
	if err != nil {
		return cluster.Cond{}, cluster.Op{}, err
	}
	u.Hash = h
	b, err := json.Marshal(u)
	if err != nil {
		return cluster.Cond{}, cluster.Op{}, fmt.Errorf("encode user %q: %w", u.ID, err)
	}
	return cluster.Absent(UserPrefix + u.ID), d.vault.Put(UserPrefix+u.ID, b), nil
}

// Delete removes user id.
func (d *Directory) Delete(ctx context.Context, id string) error {
	_, rev, err := d.get(ctx, id)
	if err != nil {
		return err
	}
	_, err = d.vault.Txn(ctx, []cluster.Cond{cluster.Unchanged(UserPrefix+id, rev)}, cluster.Delete(UserPrefix+id))
	d.Invalidate(id)
	if errors.Is(err, cluster.ErrConflict) {
		return fmt.Errorf("delete user %q: changed concurrently, retry: %w", id, err)
	}
	return err
}

// SetPassphrase replaces the passphrase of user id and forgets its cached
// credentials.
func (d *Directory) SetPassphrase(ctx context.Context, id, passphrase string) error {
	if err := ValidatePassphrase("passphrase", passphrase); err != nil {
		return err
	}
	h, err := keyring.HashPassphrase(passphrase, d.kdf)
	if err != nil {
		return err
	}
	_, err = d.update(ctx, id, func(u *User) (bool, error) { u.Hash = h; return true, nil })
	return err
}

// AddTag adds tag to an Operator user; it reports false when already present.
func (d *Directory) AddTag(ctx context.Context, id, tag string) (bool, error) {
	if err := ValidateName("tag", tag); err != nil {
		return false, err
	}
	return d.update(ctx, id, func(u *User) (bool, error) {
		if u.Role != Operator {
			return false, fmt.Errorf("%w: user %q is a %s; only Operators carry tags", ErrInvalid, id, u.Role)
		}
		if u.HasTag(tag) {
			return false, nil
		}
		u.Tags = append(u.Tags, tag)
		sort.Strings(u.Tags)
		return true, nil
	})
}

// RemoveTag removes tag from user id. Errors wrap ErrNotFound when the user does
// not carry the tag.
func (d *Directory) RemoveTag(ctx context.Context, id, tag string) error {
	_, err := d.update(ctx, id, func(u *User) (bool, error) {
		i := slices.Index(u.Tags, tag)
		if i < 0 {
			return false, fmt.Errorf("tag %q of user %q: %w", tag, id, ErrNotFound)
		}
		u.Tags = slices.Delete(u.Tags, i, i+1)
		return true, nil
	})
	return err
}

// update applies change to the stored user with optimistic concurrency. change
// reports whether it changed anything; it reports an error to abort.
func (d *Directory) update(ctx context.Context, id string, change func(*User) (bool, error)) (bool, error) {
	for attempt := 0; attempt < 5; attempt++ {
		u, rev, err := d.get(ctx, id)
		if err != nil {
			return false, err
		}
		u.Tags = slices.Clone(u.Tags)
		if changed, err := change(&u); err != nil || !changed {
			return false, err
		}
		err = d.write(ctx, u, cluster.Unchanged(UserPrefix+id, rev))
		if !errors.Is(err, cluster.ErrConflict) {
			return err == nil, err
		}
	}
	return false, fmt.Errorf("update user %q: too many concurrent changes: %w", id, cluster.ErrConflict)
}

func (d *Directory) write(ctx context.Context, u User, cond cluster.Cond) error {
	b, err := json.Marshal(u)
	if err != nil {
		return fmt.Errorf("encode user %q: %w", u.ID, err)
	}
	_, err = d.vault.Txn(ctx, []cluster.Cond{cond}, d.vault.Put(UserPrefix+u.ID, b))
	d.Invalidate(u.ID)
	return err
}
