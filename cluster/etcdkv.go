package cluster

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// callTimeout bounds every KV call. A healthy local member answers in
// milliseconds; a call that takes this long is waiting for a quorum that is
// not there, and the appliance should report that rather than hang.
const callTimeout = 5 * time.Second

// etcdKV implements KV with the client of a running Member.
type etcdKV struct {
	client  atomic.Pointer[clientv3.Client] // nil while the member is not running
	timeout time.Duration
}

// call returns the client and a context for one call: bounded by the per-call
// timeout, and failing at once when the member has no leader instead of
// waiting for one.
func (kv *etcdKV) call(ctx context.Context) (*clientv3.Client, context.Context, context.CancelFunc, error) {
	c := kv.client.Load()
	if c == nil {
		return nil, nil, nil, fmt.Errorf("%w: member is not running", ErrUnavailable)
	}
	cctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(ctx), kv.timeout)
	return c, cctx, cancel, nil
}

// Get returns the value at key, or an error wrapping ErrNotFound.
func (kv *etcdKV) Get(ctx context.Context, key string) (Entry, error) {
	c, cctx, cancel, err := kv.call(ctx)
	if err != nil {
		return Entry{}, fmt.Errorf("get key %q: %w", key, err)
	}
	defer cancel()
	resp, err := c.Get(cctx, key)
	if err != nil {
		return Entry{}, storeError(ctx, fmt.Sprintf("get key %q", key), err)
	}
	if len(resp.Kvs) == 0 {
		return Entry{}, fmt.Errorf("get key %q: %w", key, ErrNotFound)
	}
	return entry(resp.Kvs[0]), nil
}

// List returns every entry whose key starts with prefix, sorted by key. An
// empty prefix lists the whole store.
func (kv *etcdKV) List(ctx context.Context, prefix string) ([]Entry, error) {
	c, cctx, cancel, err := kv.call(ctx)
	if err != nil {
		return nil, fmt.Errorf("list prefix %q: %w", prefix, err)
	}
	defer cancel()
	resp, err := c.Get(cctx, prefix, clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, storeError(ctx, fmt.Sprintf("list prefix %q", prefix), err)
	}
	entries := make([]Entry, len(resp.Kvs))
	for i, e := range resp.Kvs {
		entries[i] = entry(e)
	}
	return entries, nil
}

// Txn applies ops atomically if every condition holds; otherwise it changes
// nothing and returns an error wrapping ErrConflict.
func (kv *etcdKV) Txn(ctx context.Context, conds []Cond, ops []Op) (int64, error) {
	thens, err := etcdOps(ops)
	if err != nil {
		return 0, fmt.Errorf("txn: %w", err)
	}
	c, cctx, cancel, err := kv.call(ctx)
	if err != nil {
		return 0, fmt.Errorf("txn: %w", err)
	}
	defer cancel()
	resp, err := c.Txn(cctx).If(etcdConds(conds)...).Then(thens...).Commit()
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
