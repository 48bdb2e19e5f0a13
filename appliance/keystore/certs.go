package keystore

import (
	"context"
	"errors"
	"fmt"

	"github.com/keywarden/keywarden/cluster"
)

// MaxCertSize is the largest certificate the store accepts (the reference's 1 MB).
const MaxCertSize = 1 << 20

// Cert returns the certificate stored for key id exactly as it was stored.
// Errors wrap ErrNotFound when the key or the certificate does not exist.
func (s *Store) Cert(ctx context.Context, ns, id string) ([]byte, error) {
	if _, err := s.Get(ctx, ns, id); err != nil {
		return nil, err
	}
	it, err := s.vault.Get(ctx, certPath(ns, id))
	if errors.Is(err, cluster.ErrNotFound) {
		return nil, fmt.Errorf("certificate of key %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return it.Value, nil
}

// PutCert stores a certificate for key id. Errors wrap ErrNotFound (no such
// key) or ErrExists (a certificate is already stored).
func (s *Store) PutCert(ctx context.Context, ns, id string, cert []byte) error {
	r, err := s.Get(ctx, ns, id)
	if err != nil {
		return err
	}
	conds := []cluster.Cond{cluster.Unchanged(KeyPath(ns, id), r.rev), cluster.Absent(certPath(ns, id))}
	_, err = s.vault.Txn(ctx, conds, s.vault.Put(certPath(ns, id), cert))
	if errors.Is(err, cluster.ErrConflict) {
		return fmt.Errorf("certificate of key %q: %w", id, ErrExists)
	}
	return err
}

// DeleteCert removes the certificate of key id. Errors wrap ErrNotFound.
func (s *Store) DeleteCert(ctx context.Context, ns, id string) error {
	if _, err := s.Cert(ctx, ns, id); err != nil {
		return err
	}
	_, err := s.vault.Txn(ctx, nil, cluster.Delete(certPath(ns, id)))
	return err
}
