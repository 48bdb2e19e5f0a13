package cluster

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Watch reports changes under prefix until ctx is cancelled. It returns once
// etcd has registered the watch, so every change committed after Watch
// returns is reported. The channel closes when ctx ends, when the member loses
// its leader, when the member stops, or when the watch could not be set up;
// a close before ctx is done means the caller may have missed events.
func (kv *etcdKV) Watch(ctx context.Context, prefix string) <-chan Event {
	out := make(chan Event)
	c := kv.client.Load()
	if c == nil {
		close(out)
		return out
	}
	// Requiring a leader makes the server cancel the watch when the member
	// is cut off, instead of leaving the caller waiting on a silent channel.
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	wch := c.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithCreatedNotify())
	if !awaitCreated(wctx, wch, kv.timeout) {
		cancel()
		close(out)
		return out
	}
	go forward(wctx, cancel, wch, out)
	return out
}

// awaitCreated waits for etcd to confirm the watch, at most timeout.
func awaitCreated(ctx context.Context, wch clientv3.WatchChan, timeout time.Duration) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case resp, ok := <-wch:
		return ok && resp.Created && resp.Err() == nil
	case <-timer.C:
		return false
	case <-ctx.Done():
		return false
	}
}

// forward copies events from wch to out until either side ends, then closes
// out. Any error (compaction, lost leader, closed client) ends the watch: the
// caller resynchronises from a fresh List.
func forward(ctx context.Context, cancel context.CancelFunc, wch clientv3.WatchChan, out chan<- Event) {
	defer close(out)
	defer cancel()
	for resp := range wch {
		if resp.Canceled || resp.Err() != nil {
			return
		}
		for i, ev := range resp.Events {
			e := Event{Key: string(ev.Kv.Key), Deleted: ev.Type == clientv3.EventTypeDelete, Revision: ev.Kv.ModRevision}
			// etcd delivers all events of one revision (one transaction) in
			// one response, in order.
			e.LastOfRevision = i == len(resp.Events)-1 || resp.Events[i+1].Kv.ModRevision != ev.Kv.ModRevision
			if !e.Deleted {
				e.Value = ev.Kv.Value
			}
			select {
			case out <- e:
			case <-ctx.Done():
				return
			}
		}
	}
}
