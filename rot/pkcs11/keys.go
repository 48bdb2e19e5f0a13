package pkcs11

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/keywarden/keywarden/hsm"
)

// KeyLabelPrefix starts the label of every token object this package
// creates; Destroy deletes every object whose label has it.
const KeyLabelPrefix = "keywarden-"

// Labels of the root of trust's own keys.
const (
	WrapKeyLabel     = KeyLabelPrefix + "wrap"
	IdentityKeyLabel = KeyLabelPrefix + "identity"
)

// ensureWrapKey creates the wrapping key unless it exists.
func ensureWrapKey(ctx context.Context, m *hsm.Module) (created bool, err error) {
	err = m.GenerateWrapKey(ctx, WrapKeyLabel)
	if errors.Is(err, hsm.ErrExists) {
		return false, nil
	}
	return err == nil, err
}

// getOrCreate returns the P-256 key labelled label, creating it unless it
// exists, and reports whether it created it.
func getOrCreate(ctx context.Context, m *hsm.Module, label string) (*hsm.Signer, bool, error) {
	s, err := m.Signer(ctx, label)
	if !errors.Is(err, hsm.ErrNotFound) {
		return s, false, err
	}
	s, err = m.GenerateECKey(ctx, label)
	if errors.Is(err, hsm.ErrExists) { // created meanwhile by another Open
		s, err = m.Signer(ctx, label)
		return s, false, err
	}
	return s, err == nil, err
}

// Signer returns the P-256 key labelled KeyLabelPrefix+name, creating it in
// the token (sensitive, non-extractable) if it does not exist, for keys the
// appliance keeps in the token besides the identity, such as its TLS key
// ("tls"). The names "wrap" and "identity" are reserved. The Signer signs
// inside the token, is safe for concurrent use, and stops working when the
// Token is closed.
func (t *Token) Signer(ctx context.Context, name string) (*hsm.Signer, error) {
	label, err := keyLabel(name)
	if err != nil {
		return nil, err
	}
	var s *hsm.Signer
	err = t.use("signer", func() error {
		s, _, err = getOrCreate(ctx, t.m, label)
		if err != nil {
			return mapError("signer "+label, t.pinFile, err)
		}
		return nil
	})
	return s, err
}

// DestroyKey deletes the key labelled KeyLabelPrefix+name, for example to
// replace the TLS key. A missing key is not an error.
func (t *Token) DestroyKey(ctx context.Context, name string) error {
	label, err := keyLabel(name)
	if err != nil {
		return err
	}
	return t.use("destroy key", func() error {
		if err := t.m.Destroy(ctx, label); err != nil {
			return mapError("destroy key "+label, t.pinFile, err)
		}
		return nil
	})
}

// keyLabel checks name and returns its label.
func keyLabel(name string) (string, error) {
	label := KeyLabelPrefix + name
	if name == "" || label == WrapKeyLabel || label == IdentityKeyLabel {
		return "", fmt.Errorf("pkcs11 root of trust: key name %q is empty or reserved", name)
	}
	return label, nil
}

// destroyKeys deletes every object labelled with KeyLabelPrefix.
func (t *Token) destroyKeys(ctx context.Context) error {
	objs, err := t.m.FindAll(ctx)
	if err != nil {
		return mapError("destroy", t.pinFile, err)
	}
	done := make(map[string]bool)
	for _, o := range objs {
		if !strings.HasPrefix(o.Label, KeyLabelPrefix) || done[o.Label] {
			continue
		}
		if err := t.m.Destroy(ctx, o.Label); err != nil {
			return mapError("destroy", t.pinFile, err)
		}
		done[o.Label] = true
	}
	return nil
}
