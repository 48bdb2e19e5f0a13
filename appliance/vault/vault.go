// Package vault is the encrypted view of the cluster store: every value is sealed
// with a keyring.Sealer under its store path before it reaches etcd, and opened
// (authenticated) when read back.
package vault

import (
	"context"
	"fmt"

	"github.com/keywarden/keywarden/appliance/keyring"
	"github.com/keywarden/keywarden/cluster"
)

// Vault seals values on the way into a cluster.KV and opens them on the way out.
type Vault struct {
	kv     cluster.KV
	sealer *keyring.Sealer
}

// New returns a Vault over kv whose values are sealed by sealer.
func New(kv cluster.KV, sealer *keyring.Sealer) *Vault {
	return &Vault{kv: kv, sealer: sealer}
}

// Item is one opened value.
type Item struct {
	Path     string
	Value    []byte
	Revision int64 // modification revision, for Unchanged conditions
}

// Get opens the value at path. Errors wrap cluster.ErrNotFound when absent and
// keyring.ErrOpen when the stored value is not authentic.
func (v *Vault) Get(ctx context.Context, path string) (Item, error) {
	e, err := v.kv.Get(ctx, path)
	if err != nil {
		return Item{}, err
	}
	return v.open(e)
}

// List opens every value under prefix.
func (v *Vault) List(ctx context.Context, prefix string) ([]Item, error) {
	entries, err := v.kv.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	items := make([]Item, 0, len(entries))
	for _, e := range entries {
		it, err := v.open(e)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return items, nil
}

// Put returns a Txn operation that stores value, sealed, at path.
func (v *Vault) Put(path string, value []byte) cluster.Op {
	return cluster.Put(path, v.sealer.Seal(path, value))
}

// Txn applies ops atomically under conds (see cluster.KV.Txn).
func (v *Vault) Txn(ctx context.Context, conds []cluster.Cond, ops ...cluster.Op) (int64, error) {
	return v.kv.Txn(ctx, conds, ops)
}

// Open authenticates a value read from the store (for example from a watch).
func (v *Vault) Open(path string, sealed []byte) ([]byte, error) {
	return v.sealer.Open(path, sealed)
}

// KV returns the underlying store, for watches.
func (v *Vault) KV() cluster.KV { return v.kv }

func (v *Vault) open(e cluster.Entry) (Item, error) {
	pt, err := v.sealer.Open(e.Key, e.Value)
	if err != nil {
		return Item{}, fmt.Errorf("vault: %w", err)
	}
	return Item{Path: e.Key, Value: pt, Revision: e.ModRevision}, nil
}
