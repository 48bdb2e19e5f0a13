package cluster

import "context"

// KV is the small key-value contract the appliance needs from its store. Keys are
// slash-separated paths; values are opaque bytes (the appliance encrypts them
// before they get here). Every method may block on the cluster and takes ctx.
type KV interface {
	// Get returns the value at key, or an error wrapping ErrNotFound.
	Get(ctx context.Context, key string) (Entry, error)
	// List returns every entry whose key starts with prefix, sorted by key.
	List(ctx context.Context, prefix string) ([]Entry, error)
	// Scan calls fn for every entry whose key starts with prefix, sorted by
	// key, as of store revision rev (0: the current one, which it returns),
	// reading page entries at a time: memory stays bounded however many
	// entries there are. fn's error ends the scan and is returned as is. A
	// scan of a revision older than the store's history (an hour) fails.
	Scan(ctx context.Context, prefix string, rev int64, page int, fn func(Entry) error) (revision int64, err error)
	// Txn applies ops atomically if every condition holds; otherwise it changes
	// nothing and returns an error wrapping ErrConflict. It returns the store
	// revision of the write. A successful Txn is durable (committed by quorum)
	// when it returns. After an error wrapping ErrUnavailable the Txn may or
	// may not have been applied: read the keys back before deciding. Each key
	// may be written by at most one op, and no Put may target a key that a
	// Delete or DeletePrefix of the same Txn removes (etcd rejects such a Txn
	// as a whole, with an error that is neither ErrConflict nor
	// ErrUnavailable).
	Txn(ctx context.Context, conds []Cond, ops []Op) (revision int64, err error)
	// Watch reports changes under prefix until ctx is cancelled. It returns
	// once the watch is registered, so every change committed after Watch
	// returns is reported. The channel is closed when the watch ends; a closed
	// channel before ctx is done means the caller must assume it missed events
	// and resynchronise.
	Watch(ctx context.Context, prefix string) <-chan Event
	// Revision returns the store's current revision with a linearizable
	// read: every write committed anywhere before the call has a revision at
	// most this. Together with Event.Revision it lets a cache wait until its
	// watch has seen every write committed before a point in time.
	Revision(ctx context.Context) (int64, error)
}

// Entry is one stored value with its revisions.
type Entry struct {
	Key         string
	Value       []byte
	ModRevision int64 // revision of the last write to this key
}

// Cond is a precondition of a Txn on one key's modification revision.
// ModRevision 0 means "the key must not exist".
type Cond struct {
	Key         string
	ModRevision int64
}

// OpKind says what an Op does.
type OpKind int

// The kinds of operation a Txn can apply.
const (
	OpPut OpKind = iota + 1
	OpDelete
	OpDeletePrefix
)

// Op is one write inside a Txn.
type Op struct {
	Kind  OpKind
	Key   string
	Value []byte // for OpPut
}

// Put returns an Op that stores value at key.
func Put(key string, value []byte) Op { return Op{Kind: OpPut, Key: key, Value: value} }

// Delete returns an Op that removes key.
func Delete(key string) Op { return Op{Kind: OpDelete, Key: key} }

// DeletePrefix returns an Op that removes every key starting with prefix.
func DeletePrefix(prefix string) Op { return Op{Kind: OpDeletePrefix, Key: prefix} }

// Absent is a Cond that holds when key does not exist.
func Absent(key string) Cond { return Cond{Key: key} }

// Unchanged is a Cond that holds when key was last written at revision rev.
func Unchanged(key string, rev int64) Cond { return Cond{Key: key, ModRevision: rev} }

// Event is one change seen by Watch.
type Event struct {
	Key      string
	Deleted  bool
	Value    []byte // nil when Deleted
	Revision int64  // the store revision of the change
	// LastOfRevision marks the last event of its revision: a transaction
	// that changed several keys yields one event per key, all with the same
	// revision, and only after the last of them has the watcher seen all of
	// the transaction.
	LastOfRevision bool
}
