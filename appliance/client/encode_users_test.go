package client

import (
	"context"
	"testing"
)

func TestUserRequests(t *testing.T) {
	const newUser = `{"realName":"Jane User","role":"Operator","passphrase":"a long passphrase"}`
	jane := NewUser{RealName: "Jane User", Role: RoleOperator, Passphrase: "a long passphrase"}
	runCases(t, []apiCase{
		{"list", answer(exchange{method: "GET", uri: "/users", accept: mimeJSON}, 200, `[{"user":"admin"},{"user":"ns1~op"}]`),
			func(ctx context.Context, c *Client) (any, error) { return c.Users(ctx) },
			[]string{"admin", "ns1~op"}},
		{"show namespaced", answer(exchange{method: "GET", uri: "/users/ns1~op", accept: mimeJSON}, 200, `{"realName":"Jane User","role":"Operator"}`),
			func(ctx context.Context, c *Client) (any, error) { return c.User(ctx, "ns1~op") },
			User{RealName: "Jane User", Role: RoleOperator}},
		{"add with id", exchange{method: "PUT", uri: "/users/ns1~op", accept: mimeJSON, contentType: mimeJSON, body: newUser, status: 201},
			func(ctx context.Context, c *Client) (any, error) { return none(c.AddUser(ctx, "ns1~op", jane)) }, nil},
		{"create in root", answer(exchange{method: "POST", uri: "/users", accept: mimeJSON, contentType: mimeJSON, body: newUser}, 201, `{"id":"a1b2"}`),
			func(ctx context.Context, c *Client) (any, error) { return c.CreateUser(ctx, "", jane) }, "a1b2"},
		{"create in namespace", answer(exchange{method: "POST", uri: "/users/ns1~", accept: mimeJSON, contentType: mimeJSON, body: newUser}, 201, `{"id":"ns1~a1b2"}`),
			func(ctx context.Context, c *Client) (any, error) { return c.CreateUser(ctx, "ns1", jane) }, "ns1~a1b2"},
		{"delete", noContent(exchange{method: "DELETE", uri: "/users/op", accept: mimeJSON}),
			func(ctx context.Context, c *Client) (any, error) { return none(c.DeleteUser(ctx, "op")) }, nil},
		{"passphrase", noContent(exchange{method: "POST", uri: "/users/op/passphrase", accept: mimeJSON, contentType: mimeJSON, body: `{"passphrase":"another passphrase"}`}),
			func(ctx context.Context, c *Client) (any, error) {
				return none(c.SetUserPassphrase(ctx, "op", "another passphrase"))
			}, nil},
		{"tags", answer(exchange{method: "GET", uri: "/users/op/tags", accept: mimeJSON}, 200, `["berlin","frankfurt"]`),
			func(ctx context.Context, c *Client) (any, error) { return c.UserTags(ctx, "op") },
			[]string{"berlin", "frankfurt"}},
		{"tag", noContent(exchange{method: "PUT", uri: "/users/op/tags/berlin", accept: mimeJSON}),
			func(ctx context.Context, c *Client) (any, error) { return none(c.AddUserTag(ctx, "op", "berlin")) }, nil},
		{"untag", noContent(exchange{method: "DELETE", uri: "/users/op/tags/berlin", accept: mimeJSON}),
			func(ctx context.Context, c *Client) (any, error) { return none(c.RemoveUserTag(ctx, "op", "berlin")) }, nil},
		{"odd id is one escaped segment", noContent(exchange{method: "DELETE", uri: "/users/a%2F..%2Fkeys", accept: mimeJSON}),
			func(ctx context.Context, c *Client) (any, error) { return none(c.DeleteUser(ctx, "a/../keys")) }, nil},
	})
}

func TestNamespaceRequests(t *testing.T) {
	runCases(t, []apiCase{
		{"list", answer(exchange{method: "GET", uri: "/namespaces", accept: mimeJSON}, 200, `[{"id":"ns1"},{"id":"ns2"}]`),
			func(ctx context.Context, c *Client) (any, error) { return c.Namespaces(ctx) },
			[]string{"ns1", "ns2"}},
		{"empty list", answer(exchange{method: "GET", uri: "/namespaces", accept: mimeJSON}, 200, `[]`),
			func(ctx context.Context, c *Client) (any, error) { return c.Namespaces(ctx) },
			[]string{}},
		{"add", noContent(exchange{method: "PUT", uri: "/namespaces/ns1", accept: mimeJSON}),
			func(ctx context.Context, c *Client) (any, error) { return none(c.AddNamespace(ctx, "ns1")) }, nil},
		{"delete", noContent(exchange{method: "DELETE", uri: "/namespaces/ns1", accept: mimeJSON}),
			func(ctx context.Context, c *Client) (any, error) { return none(c.DeleteNamespace(ctx, "ns1")) }, nil},
	})
}
