package client

import (
	"context"
	"net/http"
)

// Users lists the user IDs visible to the caller (Administrator). A
// namespaced ID has the form "namespace~name".
func (c *Client) Users(ctx context.Context) ([]string, error) {
	var items []userItem
	if err := c.doJSON(ctx, http.MethodGet, "/users", nil, nil, &items); err != nil {
		return nil, err
	}
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.User
	}
	return ids, nil
}

// User returns one user's name and role.
func (c *Client) User(ctx context.Context, id string) (User, error) {
	var u User
	err := c.doJSON(ctx, http.MethodGet, pathf("/users/%s", id), nil, nil, &u)
	return u, err
}

// AddUser creates the user id ("name" or "namespace~name"); the answer is
// 409 when it exists.
func (c *Client) AddUser(ctx context.Context, id string, u NewUser) error {
	return c.doJSON(ctx, http.MethodPut, pathf("/users/%s", id), nil, u, nil)
}

// CreateUser creates a user with an ID chosen by the appliance, inside
// namespace when it is not empty, and returns the new ID.
func (c *Client) CreateUser(ctx context.Context, namespace string, u NewUser) (string, error) {
	path := "/users"
	if namespace != "" {
		// The namespace travels as an ID prefix with nothing after the "~".
		path = pathf("/users/%s", namespace+"~")
	}
	return c.create(ctx, http.MethodPost, path, u)
}

// DeleteUser removes a user.
func (c *Client) DeleteUser(ctx context.Context, id string) error {
	return c.doJSON(ctx, http.MethodDelete, pathf("/users/%s", id), nil, nil, nil)
}

// SetUserPassphrase replaces a user's passphrase.
func (c *Client) SetUserPassphrase(ctx context.Context, id, passphrase string) error {
	return c.doJSON(ctx, http.MethodPost, pathf("/users/%s/passphrase", id), nil, passphraseData{Passphrase: passphrase}, nil)
}

// UserTags lists the tags of an Operator user.
func (c *Client) UserTags(ctx context.Context, id string) ([]string, error) {
	var tags []string
	err := c.doJSON(ctx, http.MethodGet, pathf("/users/%s/tags", id), nil, nil, &tags)
	return tags, err
}

// AddUserTag gives a user a tag.
func (c *Client) AddUserTag(ctx context.Context, id, tag string) error {
	return c.doJSON(ctx, http.MethodPut, pathf("/users/%s/tags/%s", id, tag), nil, nil, nil)
}

// RemoveUserTag takes a tag from a user.
func (c *Client) RemoveUserTag(ctx context.Context, id, tag string) error {
	return c.doJSON(ctx, http.MethodDelete, pathf("/users/%s/tags/%s", id, tag), nil, nil, nil)
}

// Namespaces lists the namespace IDs.
func (c *Client) Namespaces(ctx context.Context) ([]string, error) {
	return c.listIDs(ctx, "/namespaces", nil)
}

// AddNamespace creates a namespace.
func (c *Client) AddNamespace(ctx context.Context, id string) error {
	return c.doJSON(ctx, http.MethodPut, pathf("/namespaces/%s", id), nil, nil, nil)
}

// DeleteNamespace deletes a namespace and every key in it.
func (c *Client) DeleteNamespace(ctx context.Context, id string) error {
	return c.doJSON(ctx, http.MethodDelete, pathf("/namespaces/%s", id), nil, nil, nil)
}
