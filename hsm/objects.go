//go:build cgo

package hsm

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/miekg/pkcs11"
)

// idSize is the size of the random CKA_ID given to new keys; a key pair
// shares one ID, as PKCS#11 tools expect.
const idSize = 16

// maxRandom bounds one Random call.
const maxRandom = 64 << 10

type objectKey struct {
	class uint
	label string
}

// handleCache remembers object handles by class and label, so hot paths
// (signing) skip C_FindObjects. Entries are dropped when the token reports a
// stale handle or the object is destroyed.
type handleCache struct {
	mu sync.RWMutex
	m  map[objectKey]pkcs11.ObjectHandle
}

func (c *handleCache) get(k objectKey) (pkcs11.ObjectHandle, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	h, ok := c.m[k]
	return h, ok
}

func (c *handleCache) set(k objectKey, h pkcs11.ObjectHandle) {
	c.mu.Lock()
	c.m[k] = h
	c.mu.Unlock()
}

func (c *handleCache) clear() {
	c.mu.Lock()
	clear(c.m)
	c.mu.Unlock()
}

// handle returns the handle of the one object of class labelled label.
func (m *Module) handle(s pkcs11.SessionHandle, class uint, label string) (pkcs11.ObjectHandle, error) {
	k := objectKey{class, label}
	if h, ok := m.handles.get(k); ok {
		return h, nil
	}
	hs, err := m.findAll(s, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, class),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
	})
	switch {
	case err != nil:
		return 0, err
	case len(hs) == 0:
		return 0, fmt.Errorf("%w: %q", ErrNotFound, label)
	case len(hs) > 1:
		// Guessing could sign or unwrap with a key an attacker planted.
		return 0, fmt.Errorf("%d objects labelled %q; refusing to choose one", len(hs), label)
	}
	m.handles.set(k, hs[0])
	return hs[0], nil
}

// findAll returns the handles of every object matching template.
func (m *Module) findAll(s pkcs11.SessionHandle, template []*pkcs11.Attribute) (hs []pkcs11.ObjectHandle, err error) {
	if err := m.lib.ctx.FindObjectsInit(s, template); err != nil {
		return nil, err
	}
	defer func() {
		if ferr := m.lib.ctx.FindObjectsFinal(s); err == nil {
			err = ferr
		}
	}()
	for {
		batch, _, err := m.lib.ctx.FindObjects(s, 32)
		if err != nil {
			return nil, err
		}
		if len(batch) == 0 {
			return hs, nil
		}
		hs = append(hs, batch...)
	}
}

// Find describes every object labelled label (a key pair is two objects).
// No object is not an error: the slice is empty.
func (m *Module) Find(ctx context.Context, label string) ([]Object, error) {
	objs, err := m.find(ctx, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, label)})
	if err != nil {
		return nil, fmt.Errorf("hsm find %q: %w", label, err)
	}
	return objs, nil
}

// FindAll describes every object the logged-in user can see in the token.
func (m *Module) FindAll(ctx context.Context) ([]Object, error) {
	objs, err := m.find(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("hsm find all: %w", err)
	}
	return objs, nil
}

func (m *Module) find(ctx context.Context, template []*pkcs11.Attribute) ([]Object, error) {
	var objs []Object
	err := m.do(ctx, func(s pkcs11.SessionHandle) error {
		hs, err := m.findAll(s, template)
		if err != nil {
			return err
		}
		objs = objs[:0]
		for _, h := range hs {
			o, err := m.describe(s, h)
			if err != nil {
				return err
			}
			objs = append(objs, o)
		}
		return nil
	})
	return objs, err
}

// describe reads the attributes Object reports.
func (m *Module) describe(s pkcs11.SessionHandle, h pkcs11.ObjectHandle) (Object, error) {
	attrs, err := m.lib.ctx.GetAttributeValue(s, h, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, nil),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil),
		pkcs11.NewAttribute(pkcs11.CKA_ID, nil),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, nil),
	})
	if err != nil {
		return Object{}, err
	}
	o := Object{Label: string(attrs[1].Value), ID: attrs[2].Value, Token: boolValue(attrs[3].Value)}
	switch ulongValue(attrs[0].Value) {
	case pkcs11.CKO_SECRET_KEY:
		o.Class = ClassSecretKey
	case pkcs11.CKO_PRIVATE_KEY:
		o.Class = ClassPrivateKey
	case pkcs11.CKO_PUBLIC_KEY:
		o.Class = ClassPublicKey
	default:
		o.Class = ClassOther
	}
	if o.Class != ClassSecretKey && o.Class != ClassPrivateKey {
		return o, nil
	}
	flags, err := m.lib.ctx.GetAttributeValue(s, h, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, nil),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, nil),
	})
	if err != nil {
		return Object{}, err
	}
	o.Sensitive, o.Extractable = boolValue(flags[0].Value), boolValue(flags[1].Value)
	return o, nil
}

func boolValue(v []byte) bool { return len(v) > 0 && v[0] != 0 }

// ulongValue decodes a CK_ULONG attribute, which has the platform's size
// and byte order.
func ulongValue(v []byte) uint {
	switch len(v) {
	case 8:
		return uint(binary.NativeEndian.Uint64(v))
	case 4:
		return uint(binary.NativeEndian.Uint32(v))
	}
	return ^uint(0)
}

// GenerateWrapKey creates a persistent AES-256 key labelled label that is
// sensitive and non-extractable and may only wrap and unwrap with the
// token's wrap mechanism (see WrapMechanism). It returns an error wrapping
// ErrExists if an object with that label exists.
func (m *Module) GenerateWrapKey(ctx context.Context, label string) error {
	usage := [2]uint{pkcs11.CKA_WRAP, pkcs11.CKA_UNWRAP}
	if m.mech == AESGCM {
		usage = [2]uint{pkcs11.CKA_ENCRYPT, pkcs11.CKA_DECRYPT}
	}
	template := append(privateKeyTemplate(label), // a secret key is private too
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32),
		pkcs11.NewAttribute(usage[0], true),
		pkcs11.NewAttribute(usage[1], true),
	)
	mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}
	err := m.create(ctx, label, func(s pkcs11.SessionHandle, id []byte) error {
		_, err := m.lib.ctx.GenerateKey(s, mech, append(template, pkcs11.NewAttribute(pkcs11.CKA_ID, id)))
		return err
	})
	if err != nil {
		return fmt.Errorf("hsm generate wrap key %q: %w", label, err)
	}
	m.logger.Info("pkcs11 wrap key created", "token", m.label, "key", label)
	return nil
}

// GenerateECKey creates a persistent P-256 key pair labelled label whose
// private key is sensitive, non-extractable and may only sign, and returns
// it as a Signer. It returns an error wrapping ErrExists if an object with
// that label exists.
func (m *Module) GenerateECKey(ctx context.Context, label string) (*Signer, error) {
	public := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, oidP256),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
	}
	private := append(privateKeyTemplate(label),
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
	)
	mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_EC_KEY_PAIR_GEN, nil)}
	err := m.create(ctx, label, func(s pkcs11.SessionHandle, id []byte) error {
		idAttr := pkcs11.NewAttribute(pkcs11.CKA_ID, id)
		_, _, err := m.lib.ctx.GenerateKeyPair(s, mech, append(public, idAttr), append(private, idAttr))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("hsm generate EC key %q: %w", label, err)
	}
	m.logger.Info("pkcs11 EC key created", "token", m.label, "key", label)
	return m.Signer(ctx, label)
}

// privateKeyTemplate holds what every key this package creates shares: it
// persists, needs a login, and never leaves the token in plaintext.
func privateKeyTemplate(label string) []*pkcs11.Attribute {
	return []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
	}
}

// create runs gen unless an object labelled label exists. Within the
// process the check and the creation are atomic; another process creating
// the same label at the same moment is not prevented (PKCS#11 has no unique
// constraint), and handle refuses to pick between duplicates afterwards.
func (m *Module) create(ctx context.Context, label string, gen func(pkcs11.SessionHandle, []byte) error) error {
	id := make([]byte, idSize)
	if _, err := rand.Read(id); err != nil {
		return err
	}
	return m.do(ctx, func(s pkcs11.SessionHandle) error {
		m.lib.createMu.Lock()
		defer m.lib.createMu.Unlock()
		hs, err := m.findAll(s, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, label)})
		if err != nil {
			return err
		}
		if len(hs) > 0 {
			return fmt.Errorf("%w: %q", ErrExists, label)
		}
		return gen(s, id)
	})
}

// Destroy deletes every object labelled label. No such object is not an
// error, so Destroy can be repeated.
func (m *Module) Destroy(ctx context.Context, label string) error {
	n := 0
	err := m.do(ctx, func(s pkcs11.SessionHandle) error {
		defer m.handles.clear()
		n = 0
		hs, err := m.findAll(s, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, label)})
		if err != nil {
			return err
		}
		for _, h := range hs {
			if err := m.lib.ctx.DestroyObject(s, h); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("hsm destroy %q: %w", label, err)
	}
	m.logger.Info("pkcs11 objects destroyed", "token", m.label, "label", label, "count", n)
	return nil
}

// Random returns n bytes from the token's random number generator.
func (m *Module) Random(ctx context.Context, n int) ([]byte, error) {
	if n < 0 || n > maxRandom {
		return nil, fmt.Errorf("hsm random: %d bytes requested, want 0 to %d", n, maxRandom)
	}
	if n == 0 {
		return []byte{}, nil
	}
	var out []byte
	err := m.do(ctx, func(s pkcs11.SessionHandle) error {
		var err error
		out, err = m.lib.ctx.GenerateRandom(s, n)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("hsm random: %w", err)
	}
	if len(out) != n {
		return nil, fmt.Errorf("hsm random: token returned %d bytes, want %d", len(out), n)
	}
	return out, nil
}
