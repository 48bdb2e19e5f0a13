package users_test

import (
	"context"
	"errors"
	"testing"

	"github.com/keywarden/keywarden/appliance/keyring"
	"github.com/keywarden/keywarden/appliance/users"
	"github.com/keywarden/keywarden/appliance/vault"
	"github.com/keywarden/keywarden/cluster"
	"github.com/keywarden/keywarden/cluster/clustertest"
)

// node is one appliance's view of a shared store: its own Directory (and so
// its own caches) over the cluster's KV, sealed with the cluster's domain key.
func node(t testing.TB, kv cluster.KV, domainKey []byte, kdf keyring.KDFParams) *users.Directory {
	t.Helper()
	s, err := keyring.NewSubSealer(domainKey, keyring.PurposeStore)
	if err != nil {
		t.Fatalf("NewSubSealer: %v", err)
	}
	mac, err := keyring.Subkey(domainKey, keyring.PurposeAuthCache)
	if err != nil {
		t.Fatalf("Subkey: %v", err)
	}
	return users.NewDirectory(vault.New(kv, s), mac, kdf)
}

// newDirectory returns a Directory over a fresh embedded etcd member.
func newDirectory(t testing.TB, kdf keyring.KDFParams) *users.Directory {
	t.Helper()
	return node(t, clustertest.Start(t), keyring.NewKey(), kdf)
}

func mustCreate(t testing.TB, d *users.Directory, id string, role users.Role, passphrase string) {
	t.Helper()
	if err := d.Create(context.Background(), users.User{ID: id, RealName: "Test " + id, Role: role}, passphrase); err != nil {
		t.Fatalf("Create %q: %v", id, err)
	}
}

// wantAuth checks the outcome of Authenticate: nil for success, or the error
// it must wrap.
func wantAuth(t testing.TB, d *users.Directory, id, passphrase string, want error) {
	t.Helper()
	u, err := d.Authenticate(context.Background(), id, passphrase, nil)
	if !errors.Is(err, want) {
		t.Fatalf("Authenticate(%q): got %v, want %v", id, err, want)
	}
	if err == nil && u.ID != id {
		t.Errorf("Authenticate(%q): got user %q", id, u.ID)
	}
}
