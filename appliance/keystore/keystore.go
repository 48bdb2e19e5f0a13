// Package keystore keeps the appliance's keys in the encrypted store: one record
// per key (private material, restrictions, label) and an optional certificate,
// per namespace. It caches opened keys in memory so that signing does not pay
// for a store read and a decryption on every request; the cache is kept
// coherent by Invalidate (local writes and the store watch).
package keystore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/keywarden/keywarden/appliance/keys"
	"github.com/keywarden/keywarden/appliance/vault"
	"github.com/keywarden/keywarden/cluster"
)

// Store path prefixes. The root namespace is stored under "_root", a name no
// namespace can have (namespace IDs start with a letter or digit).
const (
	KeyPrefix  = "/kw/v1/keys/"
	CertPrefix = "/kw/v1/keycerts/"
	rootDir    = "_root"
)

var (
	// ErrNotFound means the key (or its certificate) does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists means the key ID (or a certificate) is already taken.
	ErrExists = errors.New("already exists")
)

// Record is one stored key.
type Record struct {
	Namespace string
	ID        string
	Key       *keys.Key
	Tags      []string // restriction tags: an Operator needs one of them
	Label     string

	rev int64
	ops *atomic.Uint64 // operations performed with this key on this node
}

// Operations returns how many operations this node performed with the key
// since it started.
func (r *Record) Operations() uint64 {
	if r.ops == nil {
		return 0
	}
	return r.ops.Load()
}

// CountOperation records one use of the key.
func (r *Record) CountOperation() {
	if r.ops != nil {
		r.ops.Add(1)
	}
}

type stored struct {
	Material []byte   `json:"material"`
	Tags     []string `json:"tags,omitempty"`
	Label    string   `json:"label,omitempty"`
}

// Store is the key store of one unlocked session.
type Store struct {
	vault *vault.Vault

	mu    sync.Mutex
	gen   uint64
	cache map[string]*Record
	ops   map[string]*atomic.Uint64 // survives cache invalidation
}

// New returns a Store over v.
func New(v *vault.Vault) *Store {
	return &Store{vault: v, cache: map[string]*Record{}, ops: map[string]*atomic.Uint64{}}
}

func nsDir(ns string) string {
	if ns == "" {
		return rootDir
	}
	return ns
}

// KeyPath is the store path of key id in namespace ns.
func KeyPath(ns, id string) string { return KeyPrefix + nsDir(ns) + "/" + id }

func certPath(ns, id string) string { return CertPrefix + nsDir(ns) + "/" + id }

// Get returns the key id in namespace ns. Errors wrap ErrNotFound.
func (s *Store) Get(ctx context.Context, ns, id string) (*Record, error) {
	path := KeyPath(ns, id)
	s.mu.Lock()
	r, ok := s.cache[path]
	gen := s.gen
	s.mu.Unlock()
	if ok {
		return r, nil
	}
	it, err := s.vault.Get(ctx, path)
	if errors.Is(err, cluster.ErrNotFound) {
		return nil, fmt.Errorf("key %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read key %q: %w", id, err)
	}
	r, err = decode(ns, id, it)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	r.ops = s.counter(path)
	if s.gen == gen {
		s.cache[path] = r
	}
	s.mu.Unlock()
	return r, nil
}

// forgetOperations drops the operation counters of deleted keys, so a new key
// under the same ID starts from zero. where is a key path, or a directory
// ending in "/" for every key below it (key IDs contain no "/").
func (s *Store) forgetOperations(where string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !strings.HasSuffix(where, "/") {
		delete(s.ops, where)
		return
	}
	for path := range s.ops {
		if strings.HasPrefix(path, where) {
			delete(s.ops, path)
		}
	}
}

// Forget drops everything this node holds about deleted keys: cache entries
// and operation counters. where is a key path or a namespace directory (see
// NamespaceDir). The store watch calls it for deletions on other nodes.
func (s *Store) Forget(where string) {
	if strings.HasSuffix(where, "/") {
		s.Invalidate("") // a whole namespace: rare, drop everything
	} else {
		s.Invalidate(where)
	}
	s.forgetOperations(where)
}

// NamespaceDir is the store directory of namespace ns's keys.
func NamespaceDir(ns string) string { return KeyPrefix + nsDir(ns) + "/" }

// counter returns the operation counter of path; s.mu must be held.
func (s *Store) counter(path string) *atomic.Uint64 {
	c, ok := s.ops[path]
	if !ok {
		c = new(atomic.Uint64)
		s.ops[path] = c
	}
	return c
}

func decode(ns, id string, it vault.Item) (*Record, error) {
	var st stored
	if err := json.Unmarshal(it.Value, &st); err != nil {
		return nil, fmt.Errorf("decode key %q: %w", id, err)
	}
	k := new(keys.Key)
	if err := k.UnmarshalBinary(st.Material); err != nil {
		return nil, fmt.Errorf("decode key %q: %w", id, err)
	}
	return &Record{Namespace: ns, ID: id, Key: k, Tags: st.Tags, Label: st.Label, rev: it.Revision}, nil
}

// Invalidate drops the cached key at store path (every key when path is "").
func (s *Store) Invalidate(path string) {
	s.mu.Lock()
	s.gen++
	if path == "" {
		clear(s.cache)
	} else {
		delete(s.cache, path)
	}
	s.mu.Unlock()
}

// List returns the IDs of the keys in namespace ns that start with prefix.
func (s *Store) List(ctx context.Context, ns, prefix string) ([]string, error) {
	dir := NamespaceDir(ns)
	entries, err := s.vault.KV().List(ctx, dir+prefix)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	ids := make([]string, 0, len(entries))
	for _, e := range entries {
		ids = append(ids, strings.TrimPrefix(e.Key, dir))
	}
	return ids, nil
}

// Create stores a new key. Errors wrap ErrExists.
func (s *Store) Create(ctx context.Context, r *Record) error {
	op, err := s.put(r)
	if err != nil {
		return err
	}
	path := KeyPath(r.Namespace, r.ID)
	_, err = s.vault.Txn(ctx, []cluster.Cond{cluster.Absent(path)}, op)
	s.Invalidate(path)
	if errors.Is(err, cluster.ErrConflict) {
		return fmt.Errorf("key %q: %w", r.ID, ErrExists)
	}
	return err
}

func (s *Store) put(r *Record) (cluster.Op, error) {
	m, err := r.Key.MarshalBinary()
	if err != nil {
		return cluster.Op{}, fmt.Errorf("encode key %q: %w", r.ID, err)
	}
	b, err := json.Marshal(stored{Material: m, Tags: r.Tags, Label: r.Label})
	if err != nil {
		return cluster.Op{}, fmt.Errorf("encode key %q: %w", r.ID, err)
	}
	return s.vault.Put(KeyPath(r.Namespace, r.ID), b), nil
}

// Delete removes key id and its certificate. Errors wrap ErrNotFound.
func (s *Store) Delete(ctx context.Context, ns, id string) error {
	r, err := s.Get(ctx, ns, id)
	if err != nil {
		return err
	}
	path := KeyPath(ns, id)
	_, err = s.vault.Txn(ctx, []cluster.Cond{cluster.Unchanged(path, r.rev)},
		cluster.Delete(path), cluster.Delete(certPath(ns, id)))
	s.Invalidate(path)
	if err == nil {
		s.forgetOperations(path)
	}
	return conflict(err)
}

// Move renames key id to newID within namespace ns, with its certificate.
// Errors wrap ErrNotFound or ErrExists.
func (s *Store) Move(ctx context.Context, ns, id, newID string) error {
	r, err := s.Get(ctx, ns, id)
	if err != nil {
		return err
	}
	if newID == id {
		// The Txn below would put and delete one key, which etcd refuses
		// with an error that is not a conflict.
		return fmt.Errorf("key %q: %w", newID, ErrExists)
	}
	moved := *r
	moved.ID = newID
	op, err := s.put(&moved)
	if err != nil {
		return err
	}
	ops := []cluster.Op{op, cluster.Delete(KeyPath(ns, id)), cluster.Delete(certPath(ns, id))}
	if cert, err := s.vault.Get(ctx, certPath(ns, id)); err == nil {
		ops = append(ops, s.vault.Put(certPath(ns, newID), cert.Value))
	} else if !errors.Is(err, cluster.ErrNotFound) {
		return err
	}
	conds := []cluster.Cond{cluster.Unchanged(KeyPath(ns, id), r.rev), cluster.Absent(KeyPath(ns, newID))}
	_, err = s.vault.Txn(ctx, conds, ops...)
	s.Invalidate(KeyPath(ns, id))
	s.Invalidate(KeyPath(ns, newID))
	if err == nil {
		s.forgetOperations(KeyPath(ns, id))
	}
	if errors.Is(err, cluster.ErrConflict) {
		if _, gerr := s.vault.Get(ctx, KeyPath(ns, newID)); gerr == nil {
			return fmt.Errorf("key %q: %w", newID, ErrExists)
		}
	}
	return conflict(err)
}

// Update applies change to key id's restrictions or label. change reports
// whether it changed anything; Update reports the same.
func (s *Store) Update(ctx context.Context, ns, id string, change func(r *Record) (bool, error)) (bool, error) {
	r, err := s.Get(ctx, ns, id)
	if err != nil {
		return false, err
	}
	c := *r
	c.Tags = slices.Clone(r.Tags)
	if changed, err := change(&c); err != nil || !changed {
		return false, err
	}
	op, err := s.put(&c)
	if err != nil {
		return false, err
	}
	path := KeyPath(ns, id)
	_, err = s.vault.Txn(ctx, []cluster.Cond{cluster.Unchanged(path, r.rev)}, op)
	s.Invalidate(path)
	return err == nil, conflict(err)
}

// NamespaceOps returns the operations that delete every key of namespace ns.
func NamespaceOps(ns string) []cluster.Op {
	return []cluster.Op{
		cluster.DeletePrefix(NamespaceDir(ns)),
		cluster.DeletePrefix(CertPrefix + nsDir(ns) + "/"),
	}
}

func conflict(err error) error {
	if errors.Is(err, cluster.ErrConflict) {
		return fmt.Errorf("the key was changed concurrently; retry: %w", err)
	}
	return err
}
