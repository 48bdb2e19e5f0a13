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
type barrier struct {
	kv         cluster.KV
	invalidate func() // drops every cache

	mu   sync.Mutex
	seen int64         // the revision of the last event the watch applied
	more chan struct{} // closed (and replaced) whenever seen advances
}

func newBarrier(kv cluster.KV, invalidate func()) *barrier {
	return &barrier{kv: kv, invalidate: invalidate, more: make(chan struct{})}
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
	rev, err := b.kv.Revision(ctx)
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
