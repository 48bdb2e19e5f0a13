package users

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"hash"
	"sync"
	"time"

	"github.com/keywarden/keywarden/appliance/keyring"
)

// CredentialTTL bounds how long a verified passphrase is accepted without
// running Argon2id again.
const CredentialTTL = 5 * time.Minute

// credCache remembers which (user, passphrase) pairs were verified recently. It
// keeps only an HMAC of the pair under a per-session random key, never the
// passphrase, and compares MACs in constant time.
type credCache struct {
	macs sync.Pool // of hash.Hash: HMAC-SHA256 under the session key, reused
	key  []byte
	mu   sync.Mutex
	ok   map[string]verified
}

type verified struct {
	mac  [sha256.Size]byte
	rev  int64
	when time.Time
}

func newCredCache(key []byte) *credCache {
	c := &credCache{key: key, ok: map[string]verified{}}
	c.macs.New = func() any { return hmac.New(sha256.New, c.key) }
	return c
}

// mac runs on every authenticated request, so the HMAC state is pooled
// rather than rebuilt (hmac.New hashes the key twice and allocates).
func (c *credCache) mac(id, passphrase string) [sha256.Size]byte {
	m := c.macs.Get().(hash.Hash)
	defer c.macs.Put(m)
	m.Reset()
	m.Write([]byte(id))
	m.Write([]byte{0})
	m.Write([]byte(passphrase))
	var out [sha256.Size]byte
	m.Sum(out[:0])
	return out
}

func (c *credCache) hit(id string, rev int64, mac [sha256.Size]byte) bool {
	c.mu.Lock()
	v, ok := c.ok[id]
	c.mu.Unlock()
	return ok && v.rev == rev && time.Since(v.when) < CredentialTTL &&
		subtle.ConstantTimeCompare(v.mac[:], mac[:]) == 1
}

func (c *credCache) remember(id string, rev int64, mac [sha256.Size]byte) {
	c.mu.Lock()
	c.ok[id] = verified{mac: mac, rev: rev, when: time.Now()}
	c.mu.Unlock()
}

func (c *credCache) forget(id string) {
	c.mu.Lock()
	if id == "" {
		clear(c.ok)
	} else {
		delete(c.ok, id)
	}
	c.mu.Unlock()
}

// verify runs Argon2id; keyring bounds how many run at once.
func (c *credCache) verify(ctx context.Context, h keyring.PassphraseHash, passphrase string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	return h.Verify(passphrase)
}

// dummy is verified against when the user does not exist, so that a missing
// user costs the same time as a wrong passphrase.
var dummy, _ = keyring.HashPassphrase("keywarden-dummy-passphrase", keyring.TestKDF)

// Authenticate checks Basic-auth credentials. A namespaced user authenticates
// only once its namespace exists. Every failure returns ErrBadCredentials.
func (d *Directory) Authenticate(ctx context.Context, id, passphrase string) (User, error) {
	u, rev, err := d.get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		h := dummy
		h.KDF = d.kdf
		_, _ = d.creds.verify(ctx, h, passphrase)
		return User{}, ErrBadCredentials
	}
	if err != nil {
		return User{}, err
	}
	mac := d.creds.mac(id, passphrase)
	if !d.creds.hit(id, rev, mac) {
		ok, err := d.creds.verify(ctx, u.Hash, passphrase)
		if err != nil {
			return User{}, err
		}
		if !ok {
			return User{}, ErrBadCredentials
		}
		d.creds.remember(id, rev, mac)
	}
	if ns := u.Namespace(); ns != "" {
		if ok, err := d.NamespaceExists(ctx, ns); err != nil || !ok {
			return User{}, ErrBadCredentials
		}
	}
	return u, nil
}
