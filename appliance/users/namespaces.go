package users

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/keywarden/keywarden/cluster"
)

// NamespaceExists reports whether namespace ns has been created.
func (d *Directory) NamespaceExists(ctx context.Context, ns string) (bool, error) {
	_, err := d.vault.Get(ctx, NamespacePrefix+ns)
	if errors.Is(err, cluster.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Namespaces lists the created namespaces.
func (d *Directory) Namespaces(ctx context.Context) ([]string, error) {
	entries, err := d.vault.KV().List(ctx, NamespacePrefix)
	if err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, strings.TrimPrefix(e.Key, NamespacePrefix))
	}
	return out, nil
}

// CreateNamespace creates ns. Errors wrap ErrExists or ErrInvalid.
func (d *Directory) CreateNamespace(ctx context.Context, ns string) error {
	if err := ValidateNamespace(ns); err != nil {
		return err
	}
	_, err := d.vault.Txn(ctx, []cluster.Cond{cluster.Absent(NamespacePrefix + ns)}, d.vault.Put(NamespacePrefix+ns, []byte("{}")))
	if errors.Is(err, cluster.ErrConflict) {
		return fmt.Errorf("namespace %q: %w", ns, ErrExists)
	}
	return err
}

// DeleteNamespace deletes ns and its users, together with extra operations,
// in one transaction (the caller passes the deletion of the namespace's
// keys). Errors wrap ErrNotFound.
func (d *Directory) DeleteNamespace(ctx context.Context, ns string, extra ...cluster.Op) error {
	it, err := d.vault.Get(ctx, NamespacePrefix+ns)
	if errors.Is(err, cluster.ErrNotFound) {
		return fmt.Errorf("namespace %q: %w", ns, ErrNotFound)
	}
	if err != nil {
		return err
	}
	// The namespace's users go with it, so re-creating the namespace for a
	// new tenant cannot resurrect the old tenant's accounts.
	ops := append([]cluster.Op{cluster.Delete(NamespacePrefix + ns), cluster.DeletePrefix(UserPrefix + ns + "~")}, extra...)
	_, err = d.vault.Txn(ctx, []cluster.Cond{cluster.Unchanged(NamespacePrefix+ns, it.Revision)}, ops...)
	d.Invalidate("")
	return err
}
