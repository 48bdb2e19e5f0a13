//go:build cgo

package hsm

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	"github.com/miekg/pkcs11"
)

// registry holds one library per canonical module path; see the package
// documentation for why. It is guarded by its own mutex, taken only to
// acquire or release a library.
var registry = struct {
	sync.Mutex
	libs map[string]*library
}{libs: make(map[string]*library)}

// library is a loaded, initialised PKCS#11 library shared by every Module
// opened on it.
type library struct {
	path     string
	ctx      *pkcs11.Ctx
	refs     int  // guarded by registry
	finalize bool // this package initialised it, so it finalises it

	mu     sync.Mutex        // guards logins; serialises C_Login and C_Logout
	logins map[string]*login // by token label

	createMu sync.Mutex // makes find-then-create atomic within the process
}

// login is the process-wide login state of one token.
type login struct {
	refs    int    // open Modules of the token
	pin     []byte // the PIN that worked, for logging in again after re-insertion
	refused error  // set when the token refused pin; never cleared while refs > 0
}

// acquire returns the library at path, loading and initialising it if this
// is its first user.
func acquire(path string) (*library, error) {
	key := canonical(path)
	registry.Lock()
	defer registry.Unlock()
	if lib := registry.libs[key]; lib != nil {
		lib.refs++
		return lib, nil
	}
	ctx := pkcs11.New(key)
	if ctx == nil {
		return nil, fmt.Errorf("%w: cannot load %s", ErrModule, path)
	}
	lib := &library{path: key, ctx: ctx, refs: 1, finalize: true, logins: make(map[string]*login)}
	if err := ctx.Initialize(); err != nil {
		// Someone in this process initialised it outside this package: use it,
		// but leave finalising to them.
		if !hasCode(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
			ctx.Destroy()
			return nil, fmt.Errorf("%w: C_Initialize %s: %w", ErrModule, path, err)
		}
		lib.finalize = false
	}
	registry.libs[key] = lib
	return lib, nil
}

// canonical resolves symlinks so two paths to one library share one entry:
// dlopen would hand both the same library, and a second C_Initialize fails.
// A bare file name is left alone for dlopen to search the library path.
func canonical(path string) string {
	if !strings.ContainsRune(path, '/') {
		return path
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	return path
}

// release drops one reference; the last one finalises and unloads.
func (l *library) release() error {
	registry.Lock()
	defer registry.Unlock()
	if l.refs--; l.refs > 0 {
		return nil
	}
	delete(registry.libs, l.path)
	var err error
	if l.finalize {
		if err = l.ctx.Finalize(); err != nil {
			err = fmt.Errorf("hsm: C_Finalize %s: %w", l.path, err)
		}
	}
	l.ctx.Destroy()
	return err
}

// findSlot returns the slot holding the one initialised token labelled label.
func (l *library) findSlot(label string) (uint, error) {
	slots, err := l.ctx.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("hsm: list slots: %w", err)
	}
	var found []uint
	for _, s := range slots {
		info, err := l.ctx.GetTokenInfo(s)
		if err != nil || info.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
			continue // removed meanwhile, or a free slot
		}
		if strings.TrimRight(info.Label, " \x00") == label {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 0:
		return 0, fmt.Errorf("%w: no token labelled %q in %s", ErrTokenNotFound, label, l.path)
	case 1:
		return found[0], nil
	}
	return 0, fmt.Errorf("hsm: %d tokens labelled %q in %s; labels must be unique", len(found), label, l.path)
}

// join logs the user into the token on session s, or joins this process's
// existing login after checking pin is the PIN it used.
func (l *library) join(label string, pin []byte, s pkcs11.SessionHandle) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	in := l.logins[label]
	if in == nil {
		in = &login{pin: bytes.Clone(pin)}
		if err := l.ensureLoggedIn(label, in, s); err != nil {
			clear(in.pin)
			return err
		}
		in.refs = 1
		l.logins[label] = in
		return nil
	}
	// The token would answer CKR_USER_ALREADY_LOGGED_IN without checking
	// the PIN, so check it here rather than let any PIN through.
	if subtle.ConstantTimeCompare(in.pin, pin) != 1 {
		return fmt.Errorf("%w: token %q: not the PIN this process is logged in with", ErrPIN, label)
	}
	if err := l.ensureLoggedIn(label, in, s); err != nil {
		return err
	}
	in.refs++
	return nil
}

// relogin makes sure the token is logged in for session s, logging in again
// with the PIN that worked if the login was lost (all sessions closed, token
// re-inserted).
func (l *library) relogin(label string, s pkcs11.SessionHandle) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	in := l.logins[label]
	if in == nil {
		return fmt.Errorf("hsm: token %q: %w", label, ErrClosed)
	}
	return l.ensureLoggedIn(label, in, s)
}

// ensureLoggedIn logs in unless the session already has user rights. A
// refusal is remembered in in.refused and returned from then on: never retry.
func (l *library) ensureLoggedIn(label string, in *login, s pkcs11.SessionHandle) error {
	if in.refused != nil {
		return in.refused
	}
	info, err := l.ctx.GetSessionInfo(s)
	if err != nil {
		return fmt.Errorf("hsm: session info on token %q: %w", label, err)
	}
	if info.State == pkcs11.CKS_RO_USER_FUNCTIONS || info.State == pkcs11.CKS_RW_USER_FUNCTIONS {
		return nil
	}
	err = l.ctx.Login(s, pkcs11.CKU_USER, string(in.pin))
	switch {
	case err == nil, hasCode(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN):
		return nil
	case isPINError(err):
		in.refused = fmt.Errorf("%w: token %q (not retried): %w", ErrPIN, label, err)
		return in.refused
	}
	return fmt.Errorf("hsm: log in to token %q: %w", label, err)
}

// leave drops one Module's share of the login; the last one logs out, on
// session s if ok (without a session, closing the sessions ends the login).
func (l *library) leave(label string, s pkcs11.SessionHandle, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	in := l.logins[label]
	if in == nil {
		return
	}
	if in.refs--; in.refs > 0 {
		return
	}
	delete(l.logins, label)
	clear(in.pin)
	if ok && in.refused == nil {
		_ = l.ctx.Logout(s) // best effort: the sessions are closed next anyway
	}
}

// code returns the PKCS#11 return value err carries, if any.
func code(err error) (uint, bool) {
	var p11 pkcs11.Error
	if errors.As(err, &p11) {
		return uint(p11), true
	}
	return 0, false
}

func hasCode(err error, codes ...uint) bool {
	c, ok := code(err)
	if !ok {
		return false
	}
	for _, want := range codes {
		if c == want {
			return true
		}
	}
	return false
}

func isPINError(err error) bool {
	return hasCode(err, pkcs11.CKR_PIN_INCORRECT, pkcs11.CKR_PIN_INVALID, pkcs11.CKR_PIN_LEN_RANGE,
		pkcs11.CKR_PIN_EXPIRED, pkcs11.CKR_PIN_LOCKED, pkcs11.CKR_USER_PIN_NOT_INITIALIZED)
}

// sessionGone reports errors after which a fresh session (and maybe a fresh
// login, or a new slot) can succeed.
func sessionGone(err error) bool {
	return hasCode(err, pkcs11.CKR_SESSION_HANDLE_INVALID, pkcs11.CKR_SESSION_CLOSED,
		pkcs11.CKR_USER_NOT_LOGGED_IN) || tokenGone(err)
}

// tokenGone reports errors after which the token must be found again by label.
func tokenGone(err error) bool {
	return hasCode(err, pkcs11.CKR_DEVICE_REMOVED, pkcs11.CKR_TOKEN_NOT_PRESENT,
		pkcs11.CKR_TOKEN_NOT_RECOGNIZED, pkcs11.CKR_SLOT_ID_INVALID)
}

// handleGone reports errors after which cached object handles must be found
// again: a re-inserted token may number its objects differently, and
// SoftHSM2 forgets every object handle of a slot when the process's last
// session on it closes.
func handleGone(err error) bool {
	return hasCode(err, pkcs11.CKR_OBJECT_HANDLE_INVALID, pkcs11.CKR_KEY_HANDLE_INVALID,
		pkcs11.CKR_WRAPPING_KEY_HANDLE_INVALID, pkcs11.CKR_UNWRAPPING_KEY_HANDLE_INVALID)
}
