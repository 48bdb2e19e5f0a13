package api

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/keywarden/keywarden/appliance/users"
)

type userPost struct {
	RealName   string `json:"realName"`
	Role       string `json:"role"`
	Passphrase string `json:"passphrase"`
}

// newID returns a random identifier for keys and users created without one.
func newID() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// visibleUser resolves the {UserID} path value and checks the caller may see
// it: root users see everyone, namespaced users only their namespace, and
// Operators only themselves. A user the caller may not see is "not found".
func visibleUser(c *call) (string, error) {
	id := c.r.PathValue("UserID")
	if err := users.ValidateUserID(id); err != nil {
		return "", err
	}
	ns, _ := users.SplitID(id)
	if c.ns() != "" && ns != c.ns() {
		return "", fmt.Errorf("user %q: %w", id, users.ErrNotFound)
	}
	if c.user.Role == users.Operator && id != c.user.ID {
		return "", fail(http.StatusForbidden, "an Operator may only access their own user")
	}
	return id, nil
}

// managedUser is visibleUser for changes: once a namespace exists, only its
// own administrators change its users (root administrators may still read).
func managedUser(c *call) (string, error) {
	id, err := visibleUser(c)
	if err != nil {
		return "", err
	}
	ns, _ := users.SplitID(id)
	if ns == "" || ns == c.ns() {
		return id, nil
	}
	exists, err := c.sess.Users.NamespaceExists(c.ctx(), ns)
	if err != nil {
		return "", err
	}
	if exists {
		return "", fail(http.StatusForbidden, "namespace "+ns+" exists; only its own administrators change its users")
	}
	return id, nil
}

func handleListUsers(c *call) error {
	ids, err := c.sess.Users.List(c.ctx(), c.ns(), c.ns() == "")
	if err != nil {
		return err
	}
	out := make([]map[string]string, len(ids))
	for i, id := range ids {
		out[i] = map[string]string{"user": id}
	}
	return c.json(http.StatusOK, out)
}

func handleGetUser(c *call) error {
	id, err := visibleUser(c)
	if err != nil {
		return err
	}
	u, err := c.sess.Users.Get(c.ctx(), id)
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, map[string]string{"realName": u.RealName, "role": string(u.Role)})
}

func handleCreateUserGenerated(c *call) error {
	return createUser(c, users.JoinID(c.ns(), newID()), true)
}

func handleCreateUserInNamespace(c *call) error {
	raw := c.r.PathValue("UserID")
	ns, ok := strings.CutSuffix(raw, "~")
	if !ok || ns == "" {
		return fmt.Errorf("%w: POST /users/{UserID} needs a namespace prefix such as \"ns1~\"; use POST /users for users without a namespace", ErrBadRequest)
	}
	return createUser(c, users.JoinID(ns, newID()), true)
}

func handlePutUser(c *call) error {
	return createUser(c, c.r.PathValue("UserID"), false)
}

// createUser applies the reference's rule: a new user is in the caller's
// namespace, or, for callers without a namespace, in a namespace that does not
// exist yet (after that, namespace administrators manage it).
func createUser(c *call, id string, generated bool) error {
	if err := users.ValidateUserID(id); err != nil {
		return err
	}
	var req userPost
	if err := c.decode(&req); err != nil {
		return err
	}
	role, err := users.ParseRole(req.Role)
	if err != nil {
		return err
	}
	ns, _ := users.SplitID(id)
	if err := mayCreateIn(c, ns, role); err != nil {
		return err
	}
	u := users.User{ID: id, RealName: req.RealName, Role: role}
	if err := c.sess.Users.Create(c.ctx(), u, req.Passphrase); err != nil {
		return err
	}
	c.s.log.Info("user created", "user", id, "role", role, "by", c.user.ID)
	if generated {
		return c.created("/users/"+id, map[string]string{"id": id})
	}
	return c.created("/users/"+id, nil)
}

func mayCreateIn(c *call, ns string, role users.Role) error {
	if ns != "" && role != users.Administrator && role != users.Operator {
		return fmt.Errorf("%w: users in a namespace can only be Administrator or Operator", ErrBadRequest)
	}
	if c.ns() != "" {
		if ns != c.ns() {
			return fail(http.StatusForbidden, "a namespace administrator can only create users in namespace "+c.ns())
		}
		return nil
	}
	if ns == "" {
		return nil
	}
	exists, err := c.sess.Users.NamespaceExists(c.ctx(), ns)
	if err != nil {
		return err
	}
	if exists {
		return fail(http.StatusForbidden, "namespace "+ns+" exists; its own administrators create its users")
	}
	return nil
}

func handleDeleteUser(c *call) error {
	id, err := managedUser(c)
	if err != nil {
		return err
	}
	if id == c.user.ID {
		return fmt.Errorf("%w: a user cannot delete itself", ErrBadRequest)
	}
	if err := c.sess.Users.Delete(c.ctx(), id); err != nil {
		return err
	}
	c.s.log.Info("user deleted", "user", id, "by", c.user.ID)
	return c.noContent()
}

func handleUserPassphrase(c *call) error {
	id, err := managedUser(c)
	if err != nil {
		return err
	}
	var req struct {
		Passphrase string `json:"passphrase"`
	}
	if err := c.decode(&req); err != nil {
		return err
	}
	if err := c.sess.Users.SetPassphrase(c.ctx(), id, req.Passphrase); err != nil {
		return err
	}
	c.s.log.Info("user passphrase changed", "user", id, "by", c.user.ID)
	return c.noContent()
}

func handleUserTags(c *call) error {
	id, err := visibleUser(c)
	if err != nil {
		return err
	}
	u, err := c.sess.Users.Get(c.ctx(), id)
	if err != nil {
		return err
	}
	tags := u.Tags
	if tags == nil {
		tags = []string{}
	}
	return c.json(http.StatusOK, tags)
}

func handleAddUserTag(c *call) error {
	id, err := managedUser(c)
	if err != nil {
		return err
	}
	added, err := c.sess.Users.AddTag(c.ctx(), id, c.r.PathValue("Tag"))
	return c.changed(added, err)
}

func handleRemoveUserTag(c *call) error {
	id, err := managedUser(c)
	if err != nil {
		return err
	}
	if err := c.sess.Users.RemoveTag(c.ctx(), id, c.r.PathValue("Tag")); err != nil {
		return err
	}
	return c.noContent()
}

func handleListNamespaces(c *call) error {
	nss, err := c.sess.Users.Namespaces(c.ctx())
	if err != nil {
		return err
	}
	out := make([]map[string]string, len(nss))
	for i, ns := range nss {
		out[i] = map[string]string{"id": ns}
	}
	return c.json(http.StatusOK, out)
}

func handleCreateNamespace(c *call) error {
	ns := c.r.PathValue("NamespaceID")
	err := c.sess.Users.CreateNamespace(c.ctx(), ns)
	if errors.Is(err, users.ErrExists) {
		return fmt.Errorf("%w: namespace %q already exists", ErrBadRequest, ns)
	}
	if err != nil {
		return err
	}
	c.s.log.Info("namespace created", "namespace", ns, "by", c.user.ID)
	return c.noContent()
}
