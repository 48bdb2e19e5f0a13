package users_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keywarden/keywarden/appliance/keyring"
	"github.com/keywarden/keywarden/appliance/users"
	"github.com/keywarden/keywarden/cluster/clustertest"
)

func TestAuthenticate(t *testing.T) {
	d := newDirectory(t, keyring.TestKDF)
	mustCreate(t, d, "alice", users.Operator, pass)
	mustCreate(t, d, "bob", users.Administrator, "bob's own passphrase")
	tests := []struct {
		name, id, passphrase string
		want                 error
	}{
		{"right passphrase", "alice", pass, nil},
		{"again, cached", "alice", pass, nil},
		{"wrong passphrase after a cached success", "alice", pass + "!", users.ErrBadCredentials},
		{"empty passphrase", "alice", "", users.ErrBadCredentials},
		{"another user's passphrase", "bob", pass, users.ErrBadCredentials},
		{"other user", "bob", "bob's own passphrase", nil},
		{"unknown user", "carol", pass, users.ErrBadCredentials},
		{"invalid user ID", "../alice", pass, users.ErrBadCredentials},
		{"case differs", "Alice", pass, users.ErrBadCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantAuth(t, d, tt.id, tt.passphrase, tt.want) })
	}
}

// TestAuthenticateCached proves that a cached authentication does not run
// Argon2id: with a cost of about a tenth of a second per run, a thousand
// cached authentications must finish before a single uncached one does.
// The margin is three orders of magnitude, so machine load cannot flip it.
func TestAuthenticateCached(t *testing.T) {
	expensive := keyring.KDFParams{Time: 4, MemoryKiB: 32 * 1024, Threads: 1}
	d := newDirectory(t, expensive)
	mustCreate(t, d, "alice", users.Operator, pass)

	begin := time.Now()
	wantAuth(t, d, "alice", pass, nil)
	uncached := time.Since(begin)

	begin = time.Now()
	for i := range 1000 {
		if _, err := d.Authenticate(context.Background(), "alice", pass, nil); err != nil {
			t.Fatalf("cached Authenticate %d: %v", i, err)
		}
		if elapsed := time.Since(begin); elapsed > uncached {
			t.Fatalf("%d cached authentications took %v, longer than one uncached (%v): the cache is not used", i+1, elapsed, uncached)
		}
	}
	t.Logf("uncached %v, 1000 cached %v", uncached, time.Since(begin))
}

func TestAuthenticateAfterChanges(t *testing.T) {
	d := newDirectory(t, keyring.TestKDF)
	ctx := context.Background()
	mustCreate(t, d, "alice", users.Operator, pass)
	wantAuth(t, d, "alice", pass, nil)

	const newPass = "a brand new passphrase"
	if err := d.SetPassphrase(ctx, "alice", "short"); !errors.Is(err, users.ErrInvalid) {
		t.Errorf("SetPassphrase with a short passphrase: got %v, want ErrInvalid", err)
	}
	wantAuth(t, d, "alice", pass, nil)
	if err := d.SetPassphrase(ctx, "alice", newPass); err != nil {
		t.Fatalf("SetPassphrase: %v", err)
	}
	wantAuth(t, d, "alice", pass, users.ErrBadCredentials)
	wantAuth(t, d, "alice", newPass, nil)
	if err := d.SetPassphrase(ctx, "nobody", newPass); !errors.Is(err, users.ErrNotFound) {
		t.Errorf("SetPassphrase of a missing user: got %v, want ErrNotFound", err)
	}

	if err := d.Delete(ctx, "alice"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantAuth(t, d, "alice", newPass, users.ErrBadCredentials)
	mustCreate(t, d, "alice", users.Operator, pass)
	wantAuth(t, d, "alice", newPass, users.ErrBadCredentials)
	wantAuth(t, d, "alice", pass, nil)
}

func TestAuthenticateNamespacedUser(t *testing.T) {
	d := newDirectory(t, keyring.TestKDF)
	ctx := context.Background()
	mustCreate(t, d, "ns1~bob", users.Operator, pass)
	wantAuth(t, d, "ns1~bob", pass, users.ErrBadCredentials)
	if err := d.CreateNamespace(ctx, "ns1"); err != nil {
		t.Fatalf("CreateNamespace: %v", err)
	}
	wantAuth(t, d, "ns1~bob", pass, nil)
	if err := d.DeleteNamespace(ctx, "ns1"); err != nil {
		t.Fatalf("DeleteNamespace: %v", err)
	}
	// The verified credential is still cached; the namespace check must
	// apply to cached credentials too.
	wantAuth(t, d, "ns1~bob", pass, users.ErrBadCredentials)
}

// TestInvalidateOtherNode runs two Directories over one store, as two
// appliances of a cluster: a change made on one reaches the other's caches
// through Invalidate (which the store watch calls).
func TestInvalidateOtherNode(t *testing.T) {
	kv := clustertest.Start(t)
	domain := keyring.NewKey()
	a, b := node(t, kv, domain, keyring.TestKDF), node(t, kv, domain, keyring.TestKDF)
	ctx := context.Background()
	mustCreate(t, a, "alice", users.Operator, pass)
	wantAuth(t, b, "alice", pass, nil)

	const newPass = "a brand new passphrase"
	if err := a.SetPassphrase(ctx, "alice", newPass); err != nil {
		t.Fatalf("SetPassphrase: %v", err)
	}
	b.Invalidate("alice")
	wantAuth(t, b, "alice", pass, users.ErrBadCredentials)
	wantAuth(t, b, "alice", newPass, nil)

	if err := a.Delete(ctx, "alice"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	b.Invalidate("") // as after a broken watch: drop everything
	wantAuth(t, b, "alice", newPass, users.ErrBadCredentials)
	if _, err := b.Get(ctx, "alice"); !errors.Is(err, users.ErrNotFound) {
		t.Errorf("Get on the other node after Invalidate: got %v, want ErrNotFound", err)
	}
}
