package vault_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/keywarden/keywarden/appliance/keyring"
	"github.com/keywarden/keywarden/appliance/vault"
	"github.com/keywarden/keywarden/cluster"
	"github.com/keywarden/keywarden/cluster/clustertest"
)

// newVault returns a vault over a fresh embedded etcd member, with the raw
// store underneath it so tests can see what reaches etcd.
func newVault(t testing.TB) (*vault.Vault, cluster.KV) {
	t.Helper()
	kv := clustertest.Start(t)
	s, err := keyring.NewSubSealer(keyring.NewKey(), keyring.PurposeStore)
	if err != nil {
		t.Fatalf("NewSubSealer: %v", err)
	}
	return vault.New(kv, s), kv
}

func mustTxn(t testing.TB, v *vault.Vault, conds []cluster.Cond, ops ...cluster.Op) int64 {
	t.Helper()
	rev, err := v.Txn(context.Background(), conds, ops...)
	if err != nil {
		t.Fatalf("Txn: %v", err)
	}
	return rev
}

func TestVault(t *testing.T) {
	v, kv := newVault(t)
	ctx := context.Background()
	secret := []byte("private key material 0123456789")
	rev := mustTxn(t, v, nil, v.Put("/kw/v1/keys/_root/k1", secret))

	t.Run("round trip", func(t *testing.T) {
		it, err := v.Get(ctx, "/kw/v1/keys/_root/k1")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if !bytes.Equal(it.Value, secret) || it.Path != "/kw/v1/keys/_root/k1" || it.Revision != rev {
			t.Errorf("got %+v, want the stored value at revision %d", it, rev)
		}
	})
	t.Run("stored encrypted", func(t *testing.T) {
		raw, err := kv.Get(ctx, "/kw/v1/keys/_root/k1")
		if err != nil {
			t.Fatalf("raw Get: %v", err)
		}
		if bytes.Contains(raw.Value, secret) || bytes.Contains(raw.Value, secret[:8]) {
			t.Errorf("etcd holds the plaintext: %q", raw.Value)
		}
		if got, want := len(raw.Value), len(secret)+1+12+16; got != want {
			t.Errorf("got a %d-byte stored value, want %d (sealed)", got, want)
		}
	})
	t.Run("not found", func(t *testing.T) {
		if _, err := v.Get(ctx, "/kw/v1/keys/_root/missing"); !errors.Is(err, cluster.ErrNotFound) {
			t.Errorf("got %v, want ErrNotFound", err)
		}
	})
	t.Run("open watched value", func(t *testing.T) {
		raw, err := kv.Get(ctx, "/kw/v1/keys/_root/k1")
		if err != nil {
			t.Fatalf("raw Get: %v", err)
		}
		if got, err := v.Open("/kw/v1/keys/_root/k1", raw.Value); err != nil || !bytes.Equal(got, secret) {
			t.Errorf("Open: got (%q, %v), want the plaintext", got, err)
		}
		if _, err := v.Open("/kw/v1/keys/_root/k2", raw.Value); !errors.Is(err, keyring.ErrOpen) {
			t.Errorf("Open at another path: got %v, want ErrOpen", err)
		}
	})
	t.Run("KV", func(t *testing.T) {
		if v.KV() != kv {
			t.Errorf("KV returned another store")
		}
	})
}

// TestVaultPathBinding copies sealed values around inside etcd, as an attacker
// with access to the store could, and checks that none of them opens.
func TestVaultPathBinding(t *testing.T) {
	v, kv := newVault(t)
	ctx := context.Background()
	mustTxn(t, v, nil, v.Put("/kw/v1/users/operator", []byte(`{"role":"Operator"}`)))
	raw, err := kv.Get(ctx, "/kw/v1/users/operator")
	if err != nil {
		t.Fatalf("raw Get: %v", err)
	}
	otherKey, err := keyring.NewSubSealer(keyring.NewKey(), keyring.PurposeStore)
	if err != nil {
		t.Fatalf("NewSubSealer: %v", err)
	}
	tests := []struct {
		name, path string
		value      []byte
	}{
		{"copied to another path", "/kw/v1/users/admin", raw.Value},
		{"sealed under another key", "/kw/v1/users/foreign", otherKey.Seal("/kw/v1/users/foreign", []byte("{}"))},
		{"plaintext written directly", "/kw/v1/users/plain", []byte(`{"role":"Administrator"}`)},
		{"empty value", "/kw/v1/users/empty", []byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := kv.Txn(ctx, nil, []cluster.Op{cluster.Put(tt.path, tt.value)}); err != nil {
				t.Fatalf("raw Txn: %v", err)
			}
			it, err := v.Get(ctx, tt.path)
			if !errors.Is(err, keyring.ErrOpen) {
				t.Errorf("got (%q, %v), want ErrOpen", it.Value, err)
			}
		})
	}
	t.Run("list refuses", func(t *testing.T) {
		items, err := v.List(ctx, "/kw/v1/users/")
		if !errors.Is(err, keyring.ErrOpen) {
			t.Errorf("got (%d items, %v), want ErrOpen", len(items), err)
		}
	})
}

func TestVaultList(t *testing.T) {
	v, _ := newVault(t)
	ctx := context.Background()
	want := map[string]string{"/kw/v1/ns/a": "1", "/kw/v1/ns/b": "22", "/kw/v1/ns/c": "333"}
	var ops []cluster.Op
	for p, val := range want {
		ops = append(ops, v.Put(p, []byte(val)))
	}
	rev := mustTxn(t, v, nil, append(ops, v.Put("/kw/v1/nsx", []byte("outside")))...)

	items, err := v.List(ctx, "/kw/v1/ns/")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(items) != len(want) {
		t.Fatalf("got %d items, want %d", len(items), len(want))
	}
	for i, it := range items {
		if w, ok := want[it.Path]; !ok || string(it.Value) != w || it.Revision != rev {
			t.Errorf("item %d: got %s=%q at %d, want one of %v at %d", i, it.Path, it.Value, it.Revision, want, rev)
		}
		if i > 0 && items[i-1].Path >= it.Path {
			t.Errorf("items not sorted: %q before %q", items[i-1].Path, it.Path)
		}
	}
	if items, err := v.List(ctx, "/kw/v1/none/"); err != nil || len(items) != 0 {
		t.Errorf("empty prefix: got (%d items, %v), want none", len(items), err)
	}
}

// TestVaultTxnConditions checks that conditions reach the store unchanged: a
// failed condition writes nothing.
func TestVaultTxnConditions(t *testing.T) {
	v, _ := newVault(t)
	ctx := context.Background()
	const p = "/kw/v1/cond"
	rev := mustTxn(t, v, []cluster.Cond{cluster.Absent(p)}, v.Put(p, []byte("first")))

	tests := []struct {
		name  string
		cond  cluster.Cond
		value string
		want  error
	}{
		{"absent on an existing key", cluster.Absent(p), "absent", cluster.ErrConflict},
		{"stale revision", cluster.Unchanged(p, rev-1), "stale", cluster.ErrConflict},
		{"current revision", cluster.Unchanged(p, rev), "second", nil},
		{"revision now stale", cluster.Unchanged(p, rev), "third", cluster.ErrConflict},
	}
	current := "first"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Txn(ctx, []cluster.Cond{tt.cond}, v.Put(p, []byte(tt.value)))
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if err == nil {
				current = tt.value
			}
			it, err := v.Get(ctx, p)
			if err != nil || string(it.Value) != current {
				t.Errorf("got (%q, %v), want %q", it.Value, err, current)
			}
		})
	}
}
