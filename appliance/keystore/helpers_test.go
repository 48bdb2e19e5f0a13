package keystore_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/keywarden/keywarden/appliance/keyring"
	"github.com/keywarden/keywarden/appliance/keys"
	"github.com/keywarden/keywarden/appliance/keystore"
	"github.com/keywarden/keywarden/appliance/vault"
	"github.com/keywarden/keywarden/cluster"
	"github.com/keywarden/keywarden/cluster/clustertest"
)

// node is one appliance's Store (with its own cache) over a shared store.
func node(t testing.TB, kv cluster.KV, domainKey []byte) (*keystore.Store, *vault.Vault) {
	t.Helper()
	s, err := keyring.NewSubSealer(domainKey, keyring.PurposeStore)
	if err != nil {
		t.Fatalf("NewSubSealer: %v", err)
	}
	v := vault.New(kv, s)
	return keystore.New(v), v
}

// newStore returns a Store over a fresh embedded etcd member.
func newStore(t testing.TB) (*keystore.Store, *vault.Vault) {
	t.Helper()
	return node(t, clustertest.Start(t), keyring.NewKey())
}

func newKey(t testing.TB) *keys.Key {
	t.Helper()
	k, err := keys.Generate(rand.Reader, keys.TypeECP256, 0, []keys.Mechanism{keys.MechECDSASignature})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return k
}

// mustCreate stores a fresh P-256 key and returns its record.
func mustCreate(t testing.TB, s *keystore.Store, ns, id string) *keystore.Record {
	t.Helper()
	r := &keystore.Record{Namespace: ns, ID: id, Key: newKey(t), Label: "label of " + id, Tags: []string{"t1"}}
	if err := s.Create(context.Background(), r); err != nil {
		t.Fatalf("Create %s/%s: %v", ns, id, err)
	}
	return r
}

func mustGet(t testing.TB, s *keystore.Store, ns, id string) *keystore.Record {
	t.Helper()
	r, err := s.Get(context.Background(), ns, id)
	if err != nil {
		t.Fatalf("Get %s/%s: %v", ns, id, err)
	}
	return r
}

func wantNotFound(t testing.TB, s *keystore.Store, ns, id string) {
	t.Helper()
	if r, err := s.Get(context.Background(), ns, id); !errors.Is(err, keystore.ErrNotFound) {
		t.Errorf("Get %s/%s: got (%v, %v), want ErrNotFound", ns, id, r, err)
	}
}

// sameKey reports whether two keys have the same public key.
func sameKey(a, b *keys.Key) bool {
	pa, ok := a.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pa.Equal(b.Public())
}
