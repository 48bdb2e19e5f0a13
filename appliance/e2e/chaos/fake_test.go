package chaos

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// This file holds test fakes for the library's own tests only: in-memory
// "clusters" whose correctness (or breakage) is known by construction, so
// the checkers can be shown to pass the first and catch the others. The
// e2e chaos test uses real nodes instead.

// errFake reports a fake node used the wrong way round (killed twice, or
// restarted while up): a nemesis bug.
var errFake = errors.New("fake node misuse")

// fakeStore is one key set behind one mutex. Shared by every fakeNode it is
// a linearizable, durable cluster by construction.
type fakeStore struct {
	mu   sync.Mutex
	keys map[string]bool
}

func newFakeStore() *fakeStore { return &fakeStore{keys: map[string]bool{}} }

// apply runs one operation atomically.
func (s *fakeStore) apply(kind OpKind, key string) Outcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case kind == Create && s.keys[key]:
		return Exists
	case kind == Create:
		s.keys[key] = true
	case !s.keys[key]:
		return NotFound
	case kind == Delete:
		delete(s.keys, key)
	}
	return OK
}

// list is the key set, as a final-state read returns it.
func (s *fakeStore) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []string
	for k := range s.keys {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// downTracker watches how many fake nodes are down at once, to hold the
// nemesis to MaxDown.
type downTracker struct {
	mu        sync.Mutex
	down, max int
}

func (d *downTracker) add(n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.down += n
	d.max = max(d.max, d.down)
}

func (d *downTracker) maxDown() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.max
}

// fakeNode is one member in front of a fakeStore. Operations take a little
// simulated network time on each side of the store access so that clients
// overlap; an operation cut by a Kill ends Unknown whether or not it reached
// the store, like a request to a process that died.
type fakeNode struct {
	store   *fakeStore
	tracker *downTracker
	// lossy makes Kill forget the keys this node created since it last
	// started: acknowledged writes that were never made durable.
	lossy bool
	// failRestart makes every Restart fail, a node that never comes back.
	failRestart bool

	mu      sync.Mutex
	down    bool
	epoch   int             // bumped by Kill; an operation from an older epoch was cut off
	created map[string]bool // keys created since the last start, for lossy
}

// fakeCluster makes n nodes. shared gives them one store (correct);
// otherwise each has its own (no replication: broken).
func fakeCluster(n int, shared bool, tune func(*fakeNode)) ([]*fakeNode, *downTracker) {
	tracker := &downTracker{}
	store := newFakeStore()
	var nodes []*fakeNode
	for range n {
		if !shared {
			store = newFakeStore()
		}
		fn := &fakeNode{store: store, tracker: tracker, created: map[string]bool{}}
		if tune != nil {
			tune(fn)
		}
		nodes = append(nodes, fn)
	}
	return nodes, tracker
}

// asNodes converts for Config.Nodes.
func asNodes(fakes []*fakeNode) []Node {
	var nodes []Node
	for _, f := range fakes {
		nodes = append(nodes, f)
	}
	return nodes
}

func (n *fakeNode) Create(ctx context.Context, id string) Outcome { return n.do(ctx, Create, id) }
func (n *fakeNode) Delete(ctx context.Context, id string) Outcome { return n.do(ctx, Delete, id) }
func (n *fakeNode) Use(ctx context.Context, id string) Outcome    { return n.do(ctx, Use, id) }

// do is one request: travel, store access unless the node died meanwhile,
// travel back unless the node died meanwhile.
func (n *fakeNode) do(ctx context.Context, kind OpKind, key string) Outcome {
	n.mu.Lock()
	epoch, down := n.epoch, n.down
	n.mu.Unlock()
	if down {
		return Unknown // connection refused
	}
	latency()
	n.mu.Lock()
	if n.down || n.epoch != epoch || ctx.Err() != nil {
		n.mu.Unlock()
		return Unknown
	}
	if flake() {
		n.mu.Unlock()
		return Unknown // a 5xx before the store saw the request
	}
	out := n.store.apply(kind, key)
	if kind == Create && out == OK {
		n.created[key] = true
	}
	n.mu.Unlock()
	latency()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.epoch != epoch || flake() {
		return Unknown // the response died with the process, or a 5xx after the write
	}
	return out
}

// flake is true for about one request in a hundred: a transient server
// error, so every run has Unknown outcomes that did and did not take effect.
func flake() bool {
	return rand.IntN(100) == 0
}

// latency simulates a network hop so that concurrent operations overlap.
func latency() {
	time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
}

func (n *fakeNode) Kill() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.down {
		return errFake
	}
	n.down = true
	n.epoch++
	if n.lossy {
		n.store.mu.Lock()
		for k := range n.created {
			delete(n.store.keys, k)
		}
		n.store.mu.Unlock()
	}
	n.created = map[string]bool{}
	n.tracker.add(1)
	return nil
}

func (n *fakeNode) Restart(ctx context.Context) error {
	latency()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.failRestart {
		return errFake
	}
	if !n.down {
		return errFake
	}
	n.down = false
	n.tracker.add(-1)
	return nil
}

// finalState lists every node's keys, as the e2e test does once the
// cluster settled.
func finalState(nodes []*fakeNode) [][]string {
	var final [][]string
	for _, n := range nodes {
		final = append(final, n.store.list())
	}
	return final
}
