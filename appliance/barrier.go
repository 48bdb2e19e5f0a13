package appliance

import (
	"context"
	"sync"
	"time"

	"github.com/keywarden/keywarden/cluster"
)

// barrierWait bounds how long a request waits for the cache watch to catch
// up with the store. A member applies and reports a committed write within
// milliseconds; a watch that is further behind than this has broken, and the
// barrier then drops every cache instead.
const barrierWait = time.Second

// barrier makes a session's caches (keys, verified credentials) linearizable
// on a node with peers: a key or user deleted on another node, once the
// delete has returned there, can no longer be used here. Before a request
// uses a cache, sync reads the store's current revision with a linearizable
// read (one round trip to the leader) and waits until the cache watch has
// applied every event up to it. Every write of the appliance is under the
// watched prefix, so every revision comes with an event.
//
// Concurrent requests share revision reads: a request joins the next read
// that starts after it arrived (never one already in flight, which could
// predate a write the request must see), so a busy node makes about one read
// per read's duration instead of one per request.
type barrier struct {
	kv         cluster.KV
	invalidate func() // drops every cache

	mu   sync.Mutex
	seen int64         // the revision of the last event the watch applied
	more chan struct{} // closed (and replaced) whenever seen advances

	rmu      sync.Mutex
	pending  *revRead // the next read, which new requests join
	inFlight bool     // a read is running; pending starts when it ends
}

// revRead is one shared read of the store revision.
type revRead struct {
	done chan struct{} // closed when rev and err are set
	rev  int64
	err  error
}

// revisionReadTimeout bounds one shared revision read; each request still
// gives up when its own context ends.
const revisionReadTimeout = 10 * time.Second

func newBarrier(kv cluster.KV, invalidate func()) *barrier {
	return &barrier{kv: kv, invalidate: invalidate, more: make(chan struct{})}
}

// revision returns the store's revision from a read that started after the
// call.
func (b *barrier) revision(ctx context.Context) (int64, error) {
	b.rmu.Lock()
	r := b.pending
	if r == nil {
		r = &revRead{done: make(chan struct{})}
		b.pending = r
	}
	if !b.inFlight {
		b.startRead()
	}
	b.rmu.Unlock()
	select {
	case <-r.done:
		return r.rev, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// startRead runs the pending read. b.rmu must be held.
func (b *barrier) startRead() {
	r := b.pending
	b.pending, b.inFlight = nil, true
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), revisionReadTimeout)
		r.rev, r.err = b.kv.Revision(ctx)
		cancel()
		close(r.done)
		b.rmu.Lock()
		b.inFlight = false
		if b.pending != nil {
			b.startRead()
		}
		b.rmu.Unlock()
	}()
}

// applied records that the watch has applied every event up to rev.
func (b *barrier) applied(rev int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if rev > b.seen {
		b.seen = rev
		close(b.more)
		b.more = make(chan struct{})
	}
}

// sync returns once the caches reflect every write committed before it was
// called. If the watch does not catch up in time (it broke, or a revision
// came without an event), it drops every cache, which is always safe.
func (b *barrier) sync(ctx context.Context) error {
	rev, err := b.revision(ctx)
	if err != nil {
		return err
	}
	timer := time.NewTimer(barrierWait)
	defer timer.Stop()
	for {
		b.mu.Lock()
		seen, more := b.seen, b.more
		b.mu.Unlock()
		if seen >= rev {
			return nil
		}
		select {
		case <-more:
		case <-timer.C:
			b.invalidate()
			b.applied(rev)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
