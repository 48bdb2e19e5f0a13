package users_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/appliance/keyring"
	"github.com/keywarden/keywarden/appliance/users"
)

const pass = "long enough passphrase"

func TestCreateGetDelete(t *testing.T) {
	d := newDirectory(t, keyring.TestKDF)
	ctx := context.Background()
	in := users.User{ID: "ns1~alice", RealName: "Alice", Role: users.Operator, Tags: []string{"t1"}}
	if err := d.Create(ctx, in, pass); err != nil {
		t.Fatalf("Create: %v", err)
	}
	got, err := d.Get(ctx, "ns1~alice")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.ID != in.ID || got.RealName != in.RealName || got.Role != in.Role || !slices.Equal(got.Tags, in.Tags) {
		t.Errorf("got %+v, want %+v", got, in)
	}
	if got.Namespace() != "ns1" || !verified(t, got.Hash, pass) {
		t.Errorf("got namespace %q and a verifier refusing the passphrase, want ns1 and one accepting it", got.Namespace())
	}
	if err := d.Create(ctx, users.User{ID: "ns1~alice", Role: users.Administrator}, pass); !errors.Is(err, users.ErrExists) {
		t.Errorf("second Create: got %v, want ErrExists", err)
	}
	if got, _ := d.Get(ctx, "ns1~alice"); got.Role != users.Operator {
		t.Errorf("the failed Create changed the role to %s", got.Role)
	}
	if err := d.Delete(ctx, "ns1~alice"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := d.Get(ctx, "ns1~alice"); !errors.Is(err, users.ErrNotFound) {
		t.Errorf("Get after Delete: got %v, want ErrNotFound", err)
	}
	if err := d.Delete(ctx, "ns1~alice"); !errors.Is(err, users.ErrNotFound) {
		t.Errorf("second Delete: got %v, want ErrNotFound", err)
	}
}

func TestCreateInvalid(t *testing.T) {
	d := newDirectory(t, keyring.TestKDF)
	tests := []struct {
		name, id, passphrase string
	}{
		{"empty ID", "", pass},
		{"leading dash", "-bob", pass},
		{"slash", "bob/admin", pass},
		{"space", "bob smith", pass},
		{"two tildes", "a~b~c", pass},
		{"empty namespace", "~bob", pass},
		{"empty name", "ns1~", pass},
		{"bad namespace", "n s~bob", pass},
		{"too long", strings.Repeat("b", 129), pass},
		{"short passphrase", "bob", strings.Repeat("p", users.MinPassphrase-1)},
		{"empty passphrase", "bob", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := d.Create(context.Background(), users.User{ID: tt.id, Role: users.Operator}, tt.passphrase)
			if !errors.Is(err, users.ErrInvalid) {
				t.Errorf("Create(%q): got %v, want ErrInvalid", tt.id, err)
			}
		})
	}
	ids, err := d.List(context.Background(), "", true)
	if err != nil || len(ids) != 0 {
		t.Errorf("got users %v (%v) after invalid creates, want none", ids, err)
	}
	mustCreate(t, d, strings.Repeat("b", 128), users.Operator, strings.Repeat("p", users.MinPassphrase))
}

func TestList(t *testing.T) {
	d := newDirectory(t, keyring.TestKDF)
	for _, id := range []string{"op1", "ns2~c", "admin", "ns1~b", "ns1~a", "ns10~d"} {
		mustCreate(t, d, id, users.Operator, pass)
	}
	tests := []struct {
		ns   string
		all  bool
		want []string
	}{
		{"", false, []string{"admin", "op1"}},
		{"ns1", false, []string{"ns1~a", "ns1~b"}},
		{"ns2", false, []string{"ns2~c"}},
		{"ns3", false, []string{}},
		{"", true, []string{"admin", "ns10~d", "ns1~a", "ns1~b", "ns2~c", "op1"}},
		{"ns1", true, []string{"admin", "ns10~d", "ns1~a", "ns1~b", "ns2~c", "op1"}},
	}
	for _, tt := range tests {
		got, err := d.List(context.Background(), tt.ns, tt.all)
		if err != nil {
			t.Fatalf("List(%q, %v): %v", tt.ns, tt.all, err)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("List(%q, %v): got %v, want %v", tt.ns, tt.all, got, tt.want)
		}
	}
}

func TestTags(t *testing.T) {
	d := newDirectory(t, keyring.TestKDF)
	ctx := context.Background()
	mustCreate(t, d, "op", users.Operator, pass)
	mustCreate(t, d, "admin", users.Administrator, pass)

	if _, err := d.AddTag(ctx, "admin", "t1"); !errors.Is(err, users.ErrInvalid) {
		t.Errorf("AddTag on an Administrator: got %v, want ErrInvalid", err)
	}
	if _, err := d.AddTag(ctx, "op", "bad tag"); !errors.Is(err, users.ErrInvalid) {
		t.Errorf("AddTag with an invalid tag: got %v, want ErrInvalid", err)
	}
	if _, err := d.AddTag(ctx, "nobody", "t1"); !errors.Is(err, users.ErrNotFound) {
		t.Errorf("AddTag on a missing user: got %v, want ErrNotFound", err)
	}
	for _, tt := range []struct {
		tag  string
		want bool
	}{{"t2", true}, {"t1", true}, {"t2", false}} {
		changed, err := d.AddTag(ctx, "op", tt.tag)
		if err != nil || changed != tt.want {
			t.Errorf("AddTag(%q): got (%v, %v), want (%v, nil)", tt.tag, changed, err, tt.want)
		}
	}
	if u, _ := d.Get(ctx, "op"); !slices.Equal(u.Tags, []string{"t1", "t2"}) {
		t.Errorf("got tags %v, want [t1 t2]", u.Tags)
	}
	if err := d.RemoveTag(ctx, "op", "t3"); !errors.Is(err, users.ErrNotFound) {
		t.Errorf("RemoveTag of a missing tag: got %v, want ErrNotFound", err)
	}
	if err := d.RemoveTag(ctx, "op", "t1"); err != nil {
		t.Fatalf("RemoveTag: %v", err)
	}
	if u, _ := d.Get(ctx, "op"); !slices.Equal(u.Tags, []string{"t2"}) {
		t.Errorf("got tags %v after RemoveTag, want [t2]", u.Tags)
	}
	wantAuth(t, d, "op", pass, nil) // tag changes keep the passphrase
}

func TestNamespaces(t *testing.T) {
	d := newDirectory(t, keyring.TestKDF)
	ctx := context.Background()
	for _, ns := range []string{"ns2", "ns1"} {
		if err := d.CreateNamespace(ctx, ns); err != nil {
			t.Fatalf("CreateNamespace(%q): %v", ns, err)
		}
	}
	if err := d.CreateNamespace(ctx, "ns1"); !errors.Is(err, users.ErrExists) {
		t.Errorf("second CreateNamespace: got %v, want ErrExists", err)
	}
	if err := d.CreateNamespace(ctx, "bad/ns"); !errors.Is(err, users.ErrInvalid) {
		t.Errorf("CreateNamespace(bad/ns): got %v, want ErrInvalid", err)
	}
	if got, err := d.Namespaces(ctx); err != nil || !slices.Equal(got, []string{"ns1", "ns2"}) {
		t.Errorf("Namespaces: got (%v, %v), want [ns1 ns2]", got, err)
	}
	if err := d.DeleteNamespace(ctx, "ns1"); err != nil {
		t.Fatalf("DeleteNamespace: %v", err)
	}
	if ok, err := d.NamespaceExists(ctx, "ns1"); ok || err != nil {
		t.Errorf("NamespaceExists after delete: got (%v, %v), want (false, nil)", ok, err)
	}
	if err := d.DeleteNamespace(ctx, "ns1"); !errors.Is(err, users.ErrNotFound) {
		t.Errorf("second DeleteNamespace: got %v, want ErrNotFound", err)
	}
}

func verified(t *testing.T, h keyring.PassphraseHash, pass string) bool {
	t.Helper()
	ok, err := h.Verify(pass)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return ok
}
