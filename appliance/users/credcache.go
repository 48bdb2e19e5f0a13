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
	// inflight shares one Argon2id run among concurrent requests carrying the
	// same credentials (a client opening many connections at once).
	inflight map[[sha256.Size]byte]*flight
}

type verified struct {
	mac  [sha256.Size]byte
	rev  int64
	when time.Time
}

func newCredCache(key []byte) *credCache {
	c := &credCache{key: key, ok: map[string]verified{}, inflight: map[[sha256.Size]byte]*flight{}}
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

// flight is one Argon2id verification that others may wait for.
type flight struct {
	done chan struct{}
	ok   bool
	err  error
}

// verify runs Argon2id once for concurrent requests with the same credentials
// (mac). admit, when not nil, is asked once per actual run, before it starts:
// the caller's rate limit. keyring bounds how many runs happen at once.
func (c *credCache) verify(ctx context.Context, mac [sha256.Size]byte, h keyring.PassphraseHash, passphrase string, admit func() error) (bool, error) {
	c.mu.Lock()
	if f, ok := c.inflight[mac]; ok {
		c.mu.Unlock()
		select {
		case <-f.done:
			return f.ok, f.err
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	f := &flight{done: make(chan struct{})}
	c.inflight[mac] = f
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.inflight, mac)
		c.mu.Unlock()
		close(f.done)
	}()
	if f.err = ctx.Err(); f.err != nil {
		return false, f.err
	}
	if admit != nil {
		if f.err = admit(); f.err != nil {
			return false, f.err
		}
	}
	f.ok, f.err = h.Verify(passphrase)
	return f.ok, f.err
}

// dummy is verified against when the user does not exist, so that a missing
// user costs the same time as a wrong passphrase.
var dummy, _ = keyring.HashPassphrase("keywarden-dummy-passphrase", keyring.TestKDF)

// Cached authenticates from the verified-credential cache alone: it reports
// true only when these exact credentials were verified recently, without
// running Argon2id. Callers rate-limit only what Cached cannot answer, since a
// cache hit proves the caller knows the passphrase.
func (d *Directory) Cached(ctx context.Context, id, passphrase string) (User, bool, error) {
	u, rev, err := d.get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return User{}, false, nil
	}
	if err != nil {
		return User{}, false, err
	}
	if !d.creds.hit(id, rev, d.creds.mac(id, passphrase)) {
		return User{}, false, nil
	}
	if err := d.namespaceLive(ctx, u); err != nil {
		return User{}, false, err
	}
	return u, true, nil
}

// namespaceLive returns ErrBadCredentials for a user whose namespace does not
// exist (yet, or any more).
func (d *Directory) namespaceLive(ctx context.Context, u User) error {
	ns := u.Namespace()
	if ns == "" {
		return nil
	}
	ok, err := d.NamespaceExists(ctx, ns)
	if err != nil {
		return err
	}
	if !ok {
		return ErrBadCredentials
	}
	return nil
}

// Authenticate checks Basic-auth credentials. A namespaced user authenticates
// only once its namespace exists. Every failure returns ErrBadCredentials,
// except an error from admit, which is returned as is. admit (may be nil) is
// called once before each Argon2id run this call starts: the rate limit.
func (d *Directory) Authenticate(ctx context.Context, id, passphrase string, admit func() error) (User, error) {
	u, rev, err := d.get(ctx, id)
	mac := d.creds.mac(id, passphrase)
	if errors.Is(err, ErrNotFound) {
		h := dummy
		h.KDF = d.kdf
		if _, err := d.creds.verify(ctx, mac, h, passphrase, admit); err != nil && !errors.Is(err, keyring.ErrBusy) {
			return User{}, err
		}
		return User{}, ErrBadCredentials
	}
	if err != nil {
		return User{}, err
	}
	if !d.creds.hit(id, rev, mac) {
		ok, err := d.creds.verify(ctx, mac, u.Hash, passphrase, admit)
		if err != nil {
			return User{}, err
		}
		if !ok {
			return User{}, ErrBadCredentials
		}
		d.creds.remember(id, rev, mac)
	}
	if err := d.namespaceLive(ctx, u); err != nil {
		return User{}, err
	}
	return u, nil
}
