package e2e

import (
	"crypto"
	"encoding/json"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/appliance/apptest"
	"github.com/keywarden/keywarden/appliance/client"
)

// TestUsers creates, reads, lists and deletes users, changes a passphrase
// and manages an Operator's tags.
func TestUsers(t *testing.T) {
	d := apptest.Start(t, apptest.Options{})
	provision(t, d)
	ctx := apptest.Context(t)
	admin := d.Client("admin", adminPass)
	raw := newRaw(t, d, net.IPv4(127, 0, 11, 1))

	resp := raw.do(t, rawReq{method: "POST", path: "/users", user: "admin", pass: adminPass, ctype: "application/json",
		body: `{"realName":"Generated Operator","role":"Operator","passphrase":"` + operatorPass + `"}`})
	resp.want(t, "POST /users", 201)
	var created struct{ ID string }
	if err := json.Unmarshal(resp.body, &created); err != nil || created.ID == "" {
		t.Fatalf("POST /users body %q: want {\"id\": ...}", resp.body)
	}
	if loc := resp.header.Get("Location"); !strings.HasSuffix(loc, "/users/"+created.ID) {
		t.Errorf("POST /users Location: got %q, want it to end in /users/%s", loc, created.ID)
	}
	if u, err := admin.User(ctx, created.ID); err != nil || u != (client.User{RealName: "Generated Operator", Role: "Operator"}) {
		t.Errorf("generated user: got %+v, %v", u, err)
	}

	raw.do(t, rawReq{method: "PUT", path: "/users/op2", user: "admin", pass: adminPass, ctype: "application/json",
		body: `{"realName":"Op Two","role":"Operator","passphrase":"` + operatorPass + `"}`}).want(t, "PUT /users/op2", 201)
	err := admin.AddUser(ctx, "op2", client.NewUser{RealName: "Again", Role: "Operator", Passphrase: operatorPass})
	wantStatus(t, "PUT an existing user", err, 409)
	for _, p := range []string{"", "short", "123456789"} {
		err := admin.AddUser(ctx, "weak", client.NewUser{RealName: "Weak", Role: "Operator", Passphrase: p})
		wantStatus(t, "the weak passphrase "+strconv.Quote(p), err, 400)
	}
	wantStatus(t, "an unknown role", admin.AddUser(ctx, "r", client.NewUser{RealName: "R", Role: "Root", Passphrase: operatorPass}), 400)
	if err := admin.AddUser(ctx, "metrics1", client.NewUser{RealName: "M", Role: "Metrics", Passphrase: operatorPass}); err != nil {
		t.Fatalf("add metrics user: %v", err)
	}
	ids, err := admin.Users(ctx)
	wantIDs(t, "users", ids, err, "admin", created.ID, "op2", "metrics1")

	op2 := d.Client("op2", operatorPass)
	if u, err := op2.User(ctx, "op2"); err != nil || u.Role != "Operator" {
		t.Errorf("an Operator reading itself: got %+v, %v", u, err)
	}

	const newPass = "operator-Changed-0c4e"
	wantStatus(t, "change to a weak passphrase", op2.SetUserPassphrase(ctx, "op2", "short"), 400)
	wantStatus(t, "an Operator changing another's passphrase", op2.SetUserPassphrase(ctx, created.ID, newPass), 403)
	if err := op2.SetUserPassphrase(ctx, "op2", newPass); err != nil {
		t.Fatalf("change own passphrase: %v", err)
	}
	_, err = op2.User(ctx, "op2")
	wantStatus(t, "the old passphrase right after the change", err, 401)
	if _, err := d.Client("op2", newPass).User(ctx, "op2"); err != nil {
		t.Errorf("the new passphrase: %v", err)
	}

	wantStatus(t, "an admin deleting itself", admin.DeleteUser(ctx, "admin"), 400)
	if err := admin.DeleteUser(ctx, "metrics1"); err != nil {
		t.Fatalf("delete user: %v", err)
	}
	_, err = admin.User(ctx, "metrics1")
	wantStatus(t, "a deleted user", err, 404)
	wantStatus(t, "delete a deleted user", admin.DeleteUser(ctx, "metrics1"), 404)
	_, err = d.Client("metrics1", operatorPass).Metrics(ctx)
	wantStatus(t, "a deleted user authenticating", err, 401)

	userTags(t, admin, d.Client("op2", newPass))
	d.Stop()
	assertNoSecrets(t, d, unlockPass, adminPass, operatorPass, newPass)
}

// userTags adds and removes tags of the Operator op2.
func userTags(t *testing.T, admin, op2 *client.Client) {
	t.Helper()
	ctx := apptest.Context(t)
	wantTags := func(want ...string) {
		t.Helper()
		got, err := op2.UserTags(ctx, "op2")
		if err != nil || !slices.Equal(got, append([]string{}, want...)) {
			t.Errorf("tags of op2: got %v, %v; want %v", got, err, want)
		}
	}
	wantTags()
	for _, tag := range []string{"berlin", "munich"} {
		if err := admin.AddUserTag(ctx, "op2", tag); err != nil {
			t.Fatalf("add tag %s: got %v, want 204", tag, err)
		}
	}
	wantStatus(t, "add tag berlin again", admin.AddUserTag(ctx, "op2", "berlin"), 304)
	wantStatus(t, "a malformed tag", admin.AddUserTag(ctx, "op2", "no tag"), 400)
	wantStatus(t, "a tag on an Administrator", admin.AddUserTag(ctx, "admin", "berlin"), 400)
	wantStatus(t, "a tag on a missing user", admin.AddUserTag(ctx, "nobody", "berlin"), 404)
	wantStatus(t, "an Operator tagging itself", op2.AddUserTag(ctx, "op2", "paris"), 403)
	wantTags("berlin", "munich")
	if err := admin.RemoveUserTag(ctx, "op2", "berlin"); err != nil {
		t.Fatalf("remove tag: %v", err)
	}
	wantStatus(t, "remove a removed tag", admin.RemoveUserTag(ctx, "op2", "berlin"), 404)
	wantTags("munich")
}

// TestNamespaces checks that namespaces separate users and keys, and who may
// manage them.
func TestNamespaces(t *testing.T) {
	d := apptest.Start(t, apptest.Options{})
	provision(t, d)
	ctx := apptest.Context(t)
	root := d.Client("admin", adminPass)
	ec := client.KeyGenerateRequest{ID: "shared-id", Type: "EC_P256", Mechanisms: mechs("ECDSA_Signature")}

	// Before ns1 exists, the root admin may create its users, who cannot log in yet.
	if err := root.AddUser(ctx, "ns1~admin", client.NewUser{RealName: "NS1 Admin", Role: "Administrator", Passphrase: adminPass}); err != nil {
		t.Fatalf("add ns1~admin before the namespace exists: %v", err)
	}
	nsAdmin := d.Client("ns1~admin", adminPass)
	_, err := nsAdmin.Users(ctx)
	wantStatus(t, "a user of a namespace that does not exist yet", err, 401)
	if err := root.AddNamespace(ctx, "ns1"); err != nil {
		t.Fatalf("add namespace: %v", err)
	}
	wantStatus(t, "add ns1 again", root.AddNamespace(ctx, "ns1"), 400)
	if nss, err := root.Namespaces(ctx); err != nil || !slices.Equal(nss, []string{"ns1"}) {
		t.Errorf("namespaces: got %v, %v; want [ns1]", nss, err)
	}

	err = root.AddUser(ctx, "ns1~late", client.NewUser{RealName: "Late", Role: "Operator", Passphrase: operatorPass})
	wantStatus(t, "root admin adding a user to an existing namespace", err, 403)
	_, err = root.CreateUser(ctx, "ns1", client.NewUser{RealName: "Late", Role: "Operator", Passphrase: operatorPass})
	wantStatus(t, "root admin POSTing a user to an existing namespace", err, 403)
	opID, err := nsAdmin.CreateUser(ctx, "ns1", client.NewUser{RealName: "NS1 Op", Role: "Operator", Passphrase: operatorPass})
	if err != nil || !strings.HasPrefix(opID, "ns1~") {
		t.Fatalf("ns1 admin POSTing a user to ns1: got %q, %v; want an ID in ns1", opID, err)
	}
	err = nsAdmin.AddUser(ctx, "ns2~x", client.NewUser{RealName: "X", Role: "Operator", Passphrase: operatorPass})
	wantStatus(t, "ns1 admin adding a user to ns2", err, 403)
	err = nsAdmin.AddUser(ctx, "rootless", client.NewUser{RealName: "X", Role: "Operator", Passphrase: operatorPass})
	wantStatus(t, "ns1 admin adding a root user", err, 403)
	if err := root.AddUser(ctx, "rootop", client.NewUser{RealName: "Root Op", Role: "Operator", Passphrase: operatorPass}); err != nil {
		t.Fatalf("add root operator: %v", err)
	}

	ids, err := nsAdmin.Users(ctx)
	wantIDs(t, "users seen by the ns1 admin", ids, err, "ns1~admin", opID)
	ids, err = root.Users(ctx)
	wantIDs(t, "users seen by the root admin", ids, err, "admin", "rootop", "ns1~admin", opID)
	_, err = nsAdmin.User(ctx, "admin")
	wantHidden(t, "ns1 admin reading a root user", err)
	wantHidden(t, "ns1 admin deleting a root user", nsAdmin.DeleteUser(ctx, "rootop"))
	wantHidden(t, "ns1 admin changing a root user's passphrase", nsAdmin.SetUserPassphrase(ctx, "rootop", "operator-Hijacked-123"))
	if _, err := d.Client("rootop", operatorPass).User(ctx, "rootop"); err != nil {
		t.Errorf("root operator after the ns1 admin's attempts: %v", err)
	}
	// Once ns1 exists, its users are its own administrators' to change.
	wantStatus(t, "root admin changing an ns1 user's passphrase", root.SetUserPassphrase(ctx, "ns1~admin", "root-Takeover-123"), 403)
	wantStatus(t, "root admin deleting an ns1 user", root.DeleteUser(ctx, opID), 403)
	wantStatus(t, "root admin tagging an ns1 user", root.AddUserTag(ctx, opID, "x"), 403)
	if _, err := root.User(ctx, opID); err != nil {
		t.Errorf("root admin reading an ns1 user: %v", err)
	}
	wantStatus(t, "ns1 admin locking", nsAdmin.Lock(ctx), 403)
	_, err = nsAdmin.Namespaces(ctx)
	wantStatus(t, "ns1 admin listing namespaces", err, 403)

	namespacedKeys(t, d, root, nsAdmin, opID, ec)
}

// wantHidden fails unless err refuses access to a user of another namespace:
// the reference says 403, Keywarden answers 404 so as not to confirm the user
// exists; either keeps the user out of reach.
func wantHidden(t *testing.T, what string, err error) {
	t.Helper()
	if s := client.StatusCode(err); s != 403 && s != 404 {
		t.Errorf("%s: got %v, want 403 or 404", what, err)
	}
}

// namespacedKeys checks that the same key ID names different keys in the
// root namespace and in ns1, and that deleting ns1 deletes its keys.
func namespacedKeys(t *testing.T, d *apptest.Daemon, root, nsAdmin *client.Client, opID string, ec client.KeyGenerateRequest) {
	t.Helper()
	ctx := apptest.Context(t)
	for _, c := range []*client.Client{root, nsAdmin} {
		if _, err := c.GenerateKey(ctx, ec); err != nil {
			t.Fatalf("generate shared-id: %v", err)
		}
	}
	if _, err := nsAdmin.GenerateKey(ctx, client.KeyGenerateRequest{ID: "ns-only", Type: "EC_P256", Mechanisms: mechs("ECDSA_Signature")}); err != nil {
		t.Fatalf("generate ns-only: %v", err)
	}
	rootPub, nsPub := publicKey(t, root, "shared-id"), publicKey(t, nsAdmin, "shared-id")
	if k, ok := rootPub.(interface{ Equal(crypto.PublicKey) bool }); !ok || k.Equal(nsPub) {
		t.Fatal("shared-id in the root namespace and in ns1 is the same key")
	}
	ids, err := nsAdmin.Keys(ctx, client.KeyListOptions{})
	wantIDs(t, "keys seen by the ns1 admin", ids, err, "shared-id", "ns-only")
	ids, err = root.Keys(ctx, client.KeyListOptions{})
	wantIDs(t, "keys seen by the root admin", ids, err, "shared-id")
	_, err = root.Key(ctx, "ns-only")
	wantStatus(t, "root admin reading an ns1 key", err, 404)

	nsOp := d.Client(opID, operatorPass)
	msg := make([]byte, 32)
	sig, err := nsOp.Sign(ctx, "shared-id", client.SignRequest{Mode: "ECDSA", Message: msg})
	if err != nil {
		t.Fatalf("ns1 operator signing: %v", err)
	}
	verify(t, nsPub, msg, sig)

	if err := root.DeleteNamespace(ctx, "ns1"); err != nil {
		t.Fatalf("delete ns1: %v", err)
	}
	_, err = nsOp.Key(ctx, "shared-id")
	wantStatus(t, "an ns1 user after ns1 is deleted", err, 401)
	if ids, err := root.Users(ctx); err != nil || slices.ContainsFunc(ids, func(id string) bool { return strings.HasPrefix(id, "ns1~") }) {
		t.Fatalf("users after deleting ns1: got %v, %v; want no ns1 user left", ids, err)
	}
	// A new tenant gets ns1: the old tenant's admin must not come back with it.
	if err := root.AddUser(ctx, "ns1~admin", client.NewUser{RealName: "New NS1 Admin", Role: "Administrator", Passphrase: adminPass + "-new"}); err != nil {
		t.Fatalf("root admin creating the new ns1 admin: %v", err)
	}
	if err := root.AddNamespace(ctx, "ns1"); err != nil {
		t.Fatalf("re-create ns1: %v", err)
	}
	_, err = nsAdmin.Keys(ctx, client.KeyListOptions{})
	wantStatus(t, "the old ns1 admin after ns1 was re-created", err, 401)
	nsAdmin = d.Client("ns1~admin", adminPass+"-new")
	ids, err = nsAdmin.Keys(ctx, client.KeyListOptions{})
	wantIDs(t, "ns1 keys after deleting and re-creating ns1", ids, err)
	if _, err := nsAdmin.GenerateKey(ctx, ec); err != nil {
		t.Fatalf("generate shared-id in the re-created ns1: %v", err)
	}
	if k, err := nsAdmin.Key(ctx, "shared-id"); err != nil || k.Operations != 0 {
		t.Errorf("operations of a new key under the ID of a key deleted with its namespace: got %d, %v; want 0", k.Operations, err)
	}
	if got := publicKey(t, root, "shared-id"); !rootPub.(interface{ Equal(crypto.PublicKey) bool }).Equal(got) {
		t.Error("deleting ns1 changed the root namespace's shared-id")
	}
	wantStatus(t, "delete a missing namespace", root.DeleteNamespace(ctx, "ns9"), 404)
}
