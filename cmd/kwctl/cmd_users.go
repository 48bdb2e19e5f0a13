package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/keywarden/keywarden/appliance/client"
)

func userCommands() []*command {
	return []*command{
		{name: "list", summary: "list user IDs", run: cmdUsersList},
		{name: "add", args: "[ID | NAMESPACE~] --role ROLE --real-name NAME [--new-passphrase-file FILE]",
			summary: "create a user; without ID, or with NAMESPACE~, the appliance picks the ID", run: cmdUsersAdd},
		{name: "show", args: "ID", summary: "print a user's name and role", run: cmdUsersShow},
		{name: "delete", args: "ID", summary: "delete a user", run: cmdUsersDelete},
		{name: "passphrase", args: "ID [--new-passphrase-file FILE]", summary: "set a user's passphrase", run: cmdUsersPassphrase},
		{name: "tags", args: "ID", summary: "list a user's tags", run: cmdUsersTags},
		{name: "tag", args: "ID TAG", summary: "give a user a tag", run: cmdUsersTag},
		{name: "untag", args: "ID TAG", summary: "take a tag from a user", run: cmdUsersUntag},
	}
}

func namespaceCommands() []*command {
	return []*command{
		{name: "list", summary: "list namespaces", run: cmdNamespacesList},
		{name: "add", args: "NAMESPACE", summary: "create a namespace", run: cmdNamespacesAdd},
		{name: "delete", args: "NAMESPACE", summary: "delete a namespace and its keys", run: cmdNamespacesDelete},
	}
}

func newPassphraseSource(file string) secretSource {
	return secretSource{what: "new passphrase", flag: "new-passphrase-file", file: file, env: "KEYWARDEN_NEW_PASSPHRASE"}
}

func cmdUsersList(ctx context.Context, a *app, args []string) error {
	c, _, err := a.start(args, 0, 0, true)
	if err != nil {
		return err
	}
	ids, err := c.Users(ctx)
	if err != nil {
		return fmt.Errorf("list users: %w", err)
	}
	return a.emitList(ids)
}

func cmdUsersAdd(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags()
	role := fs.String("role", "", "`ROLE`: Administrator, Operator, Metrics or Backup (required)")
	name := fs.String("real-name", "", "the user's real `NAME` (required)")
	file := fs.String("new-passphrase-file", "", "read the new user's passphrase from `FILE` (else env KEYWARDEN_NEW_PASSPHRASE)")
	pos, err := a.parse(fs, args, 0, 1)
	if err != nil {
		return err
	}
	if *role == "" || *name == "" {
		return usagef("users add: --role and --real-name are required")
	}
	pass, err := a.secret(newPassphraseSource(*file))
	if err != nil {
		return err
	}
	c, err := a.client(true)
	if err != nil {
		return err
	}
	u := client.NewUser{RealName: *name, Role: client.UserRole(*role), Passphrase: pass}
	id := ""
	if len(pos) == 1 {
		id = pos[0]
	}
	if id != "" && !strings.HasSuffix(id, "~") {
		if err := c.AddUser(ctx, id, u); err != nil {
			return fmt.Errorf("add user %s: %w", id, err)
		}
	} else if id, err = c.CreateUser(ctx, strings.TrimSuffix(id, "~"), u); err != nil {
		return fmt.Errorf("add user: %w", err)
	}
	return a.emit(map[string]string{"id": id}, func(w io.Writer) { fmt.Fprintln(w, id) })
}

func cmdUsersShow(ctx context.Context, a *app, args []string) error {
	c, pos, err := a.start(args, 1, 1, true)
	if err != nil {
		return err
	}
	u, err := c.User(ctx, pos[0])
	if err != nil {
		return fmt.Errorf("show user %s: %w", pos[0], err)
	}
	return a.emit(u, func(w io.Writer) { fmt.Fprintf(w, "real name: %s\nrole:      %s\n", u.RealName, u.Role) })
}

func cmdUsersDelete(ctx context.Context, a *app, args []string) error {
	c, pos, err := a.start(args, 1, 1, true)
	if err != nil {
		return err
	}
	if err := c.DeleteUser(ctx, pos[0]); err != nil {
		return fmt.Errorf("delete user %s: %w", pos[0], err)
	}
	return a.done("deleted user %s", pos[0])
}

func cmdUsersPassphrase(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags()
	file := fs.String("new-passphrase-file", "", "read the new passphrase from `FILE` (else env KEYWARDEN_NEW_PASSPHRASE)")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	pass, err := a.secret(newPassphraseSource(*file))
	if err != nil {
		return err
	}
	c, err := a.client(true)
	if err != nil {
		return err
	}
	if err := c.SetUserPassphrase(ctx, pos[0], pass); err != nil {
		return fmt.Errorf("set passphrase of user %s: %w", pos[0], err)
	}
	return a.done("passphrase of user %s changed", pos[0])
}

func cmdUsersTags(ctx context.Context, a *app, args []string) error {
	c, pos, err := a.start(args, 1, 1, true)
	if err != nil {
		return err
	}
	tags, err := c.UserTags(ctx, pos[0])
	if err != nil {
		return fmt.Errorf("list tags of user %s: %w", pos[0], err)
	}
	return a.emitList(tags)
}

func cmdUsersTag(ctx context.Context, a *app, args []string) error {
	c, pos, err := a.start(args, 2, 2, true)
	if err != nil {
		return err
	}
	if err := c.AddUserTag(ctx, pos[0], pos[1]); err != nil {
		return fmt.Errorf("tag user %s with %s: %w", pos[0], pos[1], err)
	}
	return a.done("user %s tagged %s", pos[0], pos[1])
}

func cmdUsersUntag(ctx context.Context, a *app, args []string) error {
	c, pos, err := a.start(args, 2, 2, true)
	if err != nil {
		return err
	}
	if err := c.RemoveUserTag(ctx, pos[0], pos[1]); err != nil {
		return fmt.Errorf("untag user %s from %s: %w", pos[0], pos[1], err)
	}
	return a.done("user %s untagged %s", pos[0], pos[1])
}

func cmdNamespacesList(ctx context.Context, a *app, args []string) error {
	c, _, err := a.start(args, 0, 0, true)
	if err != nil {
		return err
	}
	ids, err := c.Namespaces(ctx)
	if err != nil {
		return fmt.Errorf("list namespaces: %w", err)
	}
	return a.emitList(ids)
}

func cmdNamespacesAdd(ctx context.Context, a *app, args []string) error {
	c, pos, err := a.start(args, 1, 1, true)
	if err != nil {
		return err
	}
	if err := c.AddNamespace(ctx, pos[0]); err != nil {
		return fmt.Errorf("add namespace %s: %w", pos[0], err)
	}
	return a.done("added namespace %s", pos[0])
}

func cmdNamespacesDelete(ctx context.Context, a *app, args []string) error {
	c, pos, err := a.start(args, 1, 1, true)
	if err != nil {
		return err
	}
	if err := c.DeleteNamespace(ctx, pos[0]); err != nil {
		return fmt.Errorf("delete namespace %s: %w", pos[0], err)
	}
	return a.done("deleted namespace %s", pos[0])
}
