//go:build cgo

package hsm

import (
	"context"
	"fmt"
	"sync"

	"github.com/miekg/pkcs11"
)

// pool is a bounded set of logged-in read-write sessions on one token. A
// session is used by one operation at a time, so an operation never sees
// another's state (an active find, sign or decrypt).
type pool struct {
	lib   *library
	label string
	idle  chan pkcs11.SessionHandle // sessions ready for use
	slots chan struct{}             // one element per open session, idle or in use

	mu      sync.Mutex // guards slot and refind
	slot    uint
	refind  bool // the token must be found again by label before the next open
	stopped bool
}

func newPool(lib *library, label string, slot uint, max int) *pool {
	return &pool{
		lib:   lib,
		label: label,
		slot:  slot,
		idle:  make(chan pkcs11.SessionHandle, max),
		slots: make(chan struct{}, max),
	}
}

// adopt puts an already open, logged-in session into the pool.
func (p *pool) adopt(s pkcs11.SessionHandle) {
	p.slots <- struct{}{}
	p.idle <- s
}

// get returns an idle session or opens one, waiting for ctx if the pool is
// at its limit. The caller must hand the session back with put or discard.
func (p *pool) get(ctx context.Context) (pkcs11.SessionHandle, error) {
	select {
	case s := <-p.idle:
		return s, nil
	default:
	}
	select {
	case s := <-p.idle:
		return s, nil
	case p.slots <- struct{}{}:
		s, err := p.open()
		if err != nil {
			<-p.slots
		}
		return s, err
	case <-ctx.Done():
		return 0, fmt.Errorf("hsm: wait for a session on token %q: %w", p.label, ctx.Err())
	}
}

// tryGet is get without waiting: it fails if every session is in use.
func (p *pool) tryGet() (pkcs11.SessionHandle, bool) {
	select {
	case s := <-p.idle:
		return s, true
	case p.slots <- struct{}{}:
		s, err := p.open()
		if err != nil {
			<-p.slots
		}
		return s, err == nil
	default:
		return 0, false
	}
}

// put returns a healthy session for reuse.
func (p *pool) put(s pkcs11.SessionHandle) {
	p.idle <- s // never blocks: at most cap(slots) sessions exist
}

// discard closes a session that failed or may hold unfinished state.
func (p *pool) discard(s pkcs11.SessionHandle) {
	_ = p.lib.ctx.CloseSession(s) // it may be gone already; nothing to do then
	<-p.slots
}

// flush closes every idle session; after one session turned out to be gone,
// the others usually are too.
func (p *pool) flush() {
	for {
		select {
		case s := <-p.idle:
			p.discard(s)
		default:
			return
		}
	}
}

// markRefind makes the next open find the token again by label.
func (p *pool) markRefind() {
	p.mu.Lock()
	p.refind = true
	p.mu.Unlock()
}

// open opens a session on the token, finding the token again by label if it
// moved, and makes sure the user is logged in.
func (p *pool) open() (pkcs11.SessionHandle, error) {
	slot, err := p.currentSlot()
	if err != nil {
		return 0, err
	}
	s, err := p.lib.ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if tokenGone(err) {
		p.markRefind()
		if slot, err = p.currentSlot(); err != nil {
			return 0, err
		}
		s, err = p.lib.ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	}
	if err != nil {
		return 0, fmt.Errorf("hsm: open session on token %q: %w", p.label, err)
	}
	if err := p.lib.relogin(p.label, s); err != nil {
		_ = p.lib.ctx.CloseSession(s)
		return 0, err
	}
	return s, nil
}

// currentSlot returns the token's slot, finding it again first if needed.
func (p *pool) currentSlot() (uint, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return 0, fmt.Errorf("hsm: token %q: %w", p.label, ErrClosed)
	}
	if p.refind {
		slot, err := p.lib.findSlot(p.label)
		if err != nil {
			return 0, err
		}
		p.slot, p.refind = slot, false
	}
	return p.slot, nil
}

// close closes every idle session and refuses to open new ones. The caller
// makes sure no session is in use.
func (p *pool) close() {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	p.flush()
}
