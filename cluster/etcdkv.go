package cluster

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// etcdKV implements KV with the client of a running Member. The Member keeps
// the same etcdKV across restarts and swaps the client underneath, so the
// store handed out by Member.KV works again after Restart.
type etcdKV struct {
	// client is nil while the member does not serve: not running, or
	// waiting for quorum.
	client atomic.Pointer[clientv3.Client]
	// waiting is set while the member runs but waits for quorum, to tell
	// that apart in errors.
	waiting atomic.Bool
	timeout time.Duration // bounds a whole call, retries included
}

// current returns the client of the serving member, or an error wrapping
// ErrUnavailable.
func (kv *etcdKV) current() (*clientv3.Client, error) {
	if c := kv.client.Load(); c != nil {
		return c, nil
	}
	if kv.waiting.Load() {
		return nil, fmt.Errorf("%w: member is waiting for a quorum of its cluster", ErrUnavailable)
	}
	return nil, fmt.Errorf("%w: member is not running", ErrUnavailable)
}

// do runs op under p within the call's overall bound.
func (kv *etcdKV) do(ctx context.Context, p retryPolicy, op func(context.Context, *clientv3.Client) error) error {
	cctx, cancel := context.WithTimeout(ctx, kv.timeout)
	defer cancel()
	return p.run(cctx, kv.current, op)
}

// Get returns the value at key, or an error wrapping ErrNotFound.
func (kv *etcdKV) Get(ctx context.Context, key string) (Entry, error) {
	var resp *clientv3.GetResponse
	err := kv.do(ctx, readRetry, func(actx context.Context, c *clientv3.Client) (err error) {
		resp, err = c.Get(actx, key)
		return err
	})
	if err != nil {
		return Entry{}, storeError(ctx, fmt.Sprintf("get key %q", key), err)
	}
	if len(resp.Kvs) == 0 {
		return Entry{}, fmt.Errorf("get key %q: %w", key, ErrNotFound)
	}
	return entry(resp.Kvs[0]), nil
}

// Revision returns the store's current revision (a linearizable read of a
// key that never exists, counted only).
func (kv *etcdKV) Revision(ctx context.Context) (int64, error) {
	var resp *clientv3.GetResponse
	err := kv.do(ctx, readRetry, func(actx context.Context, c *clientv3.Client) (err error) {
		resp, err = c.Get(actx, "\x00revision", clientv3.WithCountOnly())
		return err
	})
	if err != nil {
		return 0, storeError(ctx, "read store revision", err)
	}
	return resp.Header.Revision, nil
}

// List returns every entry whose key starts with prefix, sorted by key. An
// empty prefix lists the whole store.
func (kv *etcdKV) List(ctx context.Context, prefix string) ([]Entry, error) {
	var resp *clientv3.GetResponse
	err := kv.do(ctx, readRetry, func(actx context.Context, c *clientv3.Client) (err error) {
		resp, err = c.Get(actx, prefix, clientv3.WithPrefix(),
			clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
		return err
	})
	if err != nil {
		return nil, storeError(ctx, fmt.Sprintf("list prefix %q", prefix), err)
	}
	entries := make([]Entry, len(resp.Kvs))
	for i, e := range resp.Kvs {
		entries[i] = entry(e)
	}
	return entries, nil
}

// Scan implements KV.Scan: the first page fixes the revision (unless rev
// does), the others read at it, each from just after the last key seen.
func (kv *etcdKV) Scan(ctx context.Context, prefix string, rev int64, page int, fn func(Entry) error) (int64, error) {
	if page <= 0 {
		return 0, fmt.Errorf("scan prefix %q: page size %d, want at least 1", prefix, page)
	}
	end := clientv3.GetPrefixRangeEnd(prefix)
	from := prefix
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(int64(page)),
			clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		var resp *clientv3.GetResponse
		err := kv.do(ctx, readRetry, func(actx context.Context, c *clientv3.Client) (err error) {
			resp, err = c.Get(actx, from, opts...)
			return err
		})
		if err != nil {
			return 0, storeError(ctx, fmt.Sprintf("scan prefix %q", prefix), err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, e := range resp.Kvs {
			if err := fn(entry(e)); err != nil {
				return rev, err
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return rev, nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// Txn applies ops atomically if every condition holds; otherwise it changes
// nothing and returns an error wrapping ErrConflict. It is retried only when
// it certainly was not applied (see writeRetry); an error wrapping
// ErrUnavailable otherwise leaves the outcome unknown.
func (kv *etcdKV) Txn(ctx context.Context, conds []Cond, ops []Op) (int64, error) {
	thens, err := etcdOps(ops)
	if err != nil {
		return 0, fmt.Errorf("txn: %w", err)
	}
	var resp *clientv3.TxnResponse
	err = kv.do(ctx, writeRetry, func(actx context.Context, c *clientv3.Client) (err error) {
		resp, err = c.Txn(actx).If(etcdConds(conds)...).Then(thens...).Commit()
		return err
	})
	if err != nil {
		return 0, storeError(ctx, "txn", err)
	}
	if !resp.Succeeded {
		return 0, fmt.Errorf("txn with %d conditions: %w", len(conds), ErrConflict)
	}
	return resp.Header.Revision, nil
}

// etcdConds compares modification revisions; etcd compares a missing key as
// revision 0, which is exactly Cond's "must not exist".
func etcdConds(conds []Cond) []clientv3.Cmp {
	cmps := make([]clientv3.Cmp, len(conds))
	for i, c := range conds {
		cmps[i] = clientv3.Compare(clientv3.ModRevision(c.Key), "=", c.ModRevision)
	}
	return cmps
}

func etcdOps(ops []Op) ([]clientv3.Op, error) {
	out := make([]clientv3.Op, len(ops))
	for i, op := range ops {
		switch op.Kind {
		case OpPut:
			out[i] = clientv3.OpPut(op.Key, string(op.Value))
		case OpDelete:
			out[i] = clientv3.OpDelete(op.Key)
		case OpDeletePrefix:
			out[i] = clientv3.OpDelete(op.Key, clientv3.WithPrefix())
		default:
			return nil, fmt.Errorf("op %d on key %q: unknown kind %d", i, op.Key, op.Kind)
		}
	}
	return out, nil
}

func entry(e *mvccpb.KeyValue) Entry {
	return Entry{Key: string(e.Key), Value: e.Value, ModRevision: e.ModRevision}
}
