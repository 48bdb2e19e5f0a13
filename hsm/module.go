//go:build cgo

package hsm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/miekg/pkcs11"
)

// Module is an open, logged-in PKCS#11 token. It is safe for concurrent use.
type Module struct {
	lib     *library
	label   string
	logger  *slog.Logger
	pool    *pool
	mech    WrapMechanism
	handles handleCache

	mu     sync.RWMutex // operations hold it shared, Close exclusively
	closed bool
}

// maxAttempts bounds how often one operation runs: the first try, a retry
// on a fresh session, and one more after object handles are found again.
const maxAttempts = 3

// Open loads the library (once per process), finds the token by label and
// logs in. It returns an error wrapping ErrModule if the library cannot be
// loaded, ErrTokenNotFound if no token has the label, and ErrPIN if the token
// refuses the PIN; a refused PIN is not retried.
func Open(ctx context.Context, cfg Config) (*Module, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("hsm open: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxSessions == 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	lib, err := acquire(cfg.Module)
	if err != nil {
		return nil, err
	}
	m, err := open(lib, cfg)
	if err != nil {
		lib.release()
		return nil, err
	}
	m.logger.Info("pkcs11 token opened", "module", lib.path, "token", m.label,
		"slot", m.pool.slot, "wrap_mechanism", m.mech.String())
	return m, nil
}

// open finds the token, logs in on a first session and picks the wrap
// mechanism; on error it leaves nothing open but the library reference.
func open(lib *library, cfg Config) (*Module, error) {
	slot, err := lib.findSlot(cfg.TokenLabel)
	if err != nil {
		return nil, err
	}
	mech, err := chooseWrap(lib.ctx, slot)
	if err != nil {
		return nil, fmt.Errorf("hsm: token %q: %w", cfg.TokenLabel, err)
	}
	s, err := lib.ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return nil, fmt.Errorf("hsm: open session on token %q: %w", cfg.TokenLabel, err)
	}
	if err := lib.join(cfg.TokenLabel, cfg.PIN, s); err != nil {
		_ = lib.ctx.CloseSession(s)
		return nil, err
	}
	p := newPool(lib, cfg.TokenLabel, slot, cfg.MaxSessions)
	p.adopt(s)
	return &Module{lib: lib, label: cfg.TokenLabel, logger: cfg.Logger, pool: p, mech: mech,
		handles: handleCache{m: make(map[objectKey]pkcs11.ObjectHandle)}}, nil
}

// chooseWrap prefers CKM_AES_KEY_WRAP_PAD and falls back to CKM_AES_GCM.
func chooseWrap(ctx *pkcs11.Ctx, slot uint) (WrapMechanism, error) {
	candidates := []struct {
		mech  WrapMechanism
		ckm   uint
		flags uint
	}{
		{AESKeyWrapPad, pkcs11.CKM_AES_KEY_WRAP_PAD, pkcs11.CKF_WRAP | pkcs11.CKF_UNWRAP},
		{AESGCM, pkcs11.CKM_AES_GCM, pkcs11.CKF_ENCRYPT | pkcs11.CKF_DECRYPT},
	}
	for _, c := range candidates {
		info, err := ctx.GetMechanismInfo(slot, []*pkcs11.Mechanism{pkcs11.NewMechanism(c.ckm, nil)})
		if err == nil && info.Flags&c.flags == c.flags {
			return c.mech, nil
		}
	}
	return 0, fmt.Errorf("supports neither %v nor %v", AESKeyWrapPad, AESGCM)
}

// Label returns the token label the Module was opened with.
func (m *Module) Label() string { return m.label }

// WrapMechanism returns the mechanism Wrap uses with this token.
func (m *Module) WrapMechanism() WrapMechanism { return m.mech }

// do runs op on a pooled session. If the session, the login or the token's
// slot turns out to be gone, or a cached object handle is stale, it recovers
// and runs op again, at most maxAttempts times in all; op must therefore be
// safe to repeat. A session whose operation failed unexpectedly is closed
// rather than reused, so no unfinished state (an active operation, a
// temporary object) reaches the next user.
func (m *Module) do(ctx context.Context, op func(s pkcs11.SessionHandle) error) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return ErrClosed
	}
	var err error
	for range maxAttempts {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		s, gerr := m.pool.get(ctx)
		if gerr != nil {
			return gerr
		}
		if err = op(s); err == nil || clean(err) {
			m.pool.put(s)
			return err
		}
		m.pool.discard(s)
		if !m.recover(err) {
			return err
		}
	}
	return err
}

// recover prepares a retry after err and reports whether one can help.
func (m *Module) recover(err error) bool {
	switch {
	case sessionGone(err):
		m.logger.Warn("pkcs11 session lost; opening a new one", "token", m.label, "error", err)
		m.pool.flush()
		m.handles.clear()
		if tokenGone(err) {
			m.pool.markRefind()
		}
		return true
	case handleGone(err):
		m.handles.clear()
		return true
	}
	return false
}

// clean reports the expected failures that leave the session as it was.
func clean(err error) bool {
	return errors.Is(err, ErrIntegrity) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrExists)
}

// Close logs out if this is the token's last Module in the process, closes
// the sessions and, for the library's last Module, calls C_Finalize. It waits
// for operations in flight, is idempotent, and afterwards every method
// returns an error wrapping ErrClosed.
func (m *Module) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	s, ok := m.pool.tryGet() // never wait: a leaked session must not hang Close
	m.lib.leave(m.label, s, ok)
	if ok {
		m.pool.put(s)
	}
	m.pool.close()
	m.logger.Info("pkcs11 token closed", "token", m.label)
	return m.lib.release()
}
