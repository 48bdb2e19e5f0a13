package chaos

import (
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// History records client operations and nemesis actions as they happen. It
// is safe for concurrent use by any number of clients.
//
// Timestamps are nanoseconds since the History was made, read from Go's
// monotonic clock, so wall-clock steps (NTP, a VM resuming) cannot reorder
// operations and make a correct system look non-linearizable.
type History struct {
	clock   func() int64 // monotonic nanoseconds; a counter in this package's tests
	horizon int64        // see NewHistory; 0 is unbounded

	mu    sync.Mutex
	ops   []record
	notes []porcupine.Annotation
}

// record is one operation while it is (or was) in flight.
type record struct {
	client int
	node   int
	in     Input
	call   int64
	ret    int64
	out    Outcome
	done   bool
}

// Handle names an operation between [History.Begin] and [History.End]. The
// zero Handle names nothing.
type Handle struct {
	index int // position in History.ops, plus one so the zero value is invalid
}

// NewHistory starts the clock that every later timestamp is relative to.
//
// unknownHorizon is how long after its client gave up an operation with an
// Unknown outcome may still take effect; zero means forever, which assumes
// nothing about the system. Forever is the safe choice but it weakens the
// checks as Unknowns pile up: each Unknown delete can explain one
// disappearance of its key at any later time, and porcupine's search grows
// with the number of operations open at once. A bound the server
// guarantees (say, its etcd request timeout plus an election) keeps both
// sharp; a bound it does not guarantee reports violations that are not.
func NewHistory(unknownHorizon time.Duration) *History {
	start := time.Now()
	return &History{
		clock:   func() int64 { return int64(time.Since(start)) },
		horizon: int64(max(unknownHorizon, 0)),
	}
}

// Now is the current time on the history's clock, for annotations that must
// line up with operations.
func (h *History) Now() int64 {
	return h.clock()
}

// Begin records that client is about to send in to node. Call it before the
// request leaves, so the operation's interval covers the whole request.
func (h *History) Begin(client, node int, in Input) Handle {
	now := h.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, record{client: client, node: node, in: in, call: now})
	return Handle{index: len(h.ops)}
}

// End records the outcome of the operation hd names. Call it after the
// response (or the error) is in hand. Ending an operation twice keeps the
// first outcome, and the zero Handle is ignored: neither can happen in a
// client that pairs every Begin with one End.
func (h *History) End(hd Handle, out Outcome) {
	now := h.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	i := hd.index - 1
	if i < 0 || i >= len(h.ops) || h.ops[i].done {
		return
	}
	h.ops[i].ret, h.ops[i].out, h.ops[i].done = now, out, true
}

// Annotate adds a nemesis action (or any other event) to the visualisation.
// Start and End are times from [History.Now].
func (h *History) Annotate(a porcupine.Annotation) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.notes = append(h.notes, a)
}

// Annotations returns what [History.Annotate] recorded, for [Visualize].
func (h *History) Annotations() []porcupine.Annotation {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]porcupine.Annotation(nil), h.notes...)
}

// Operations returns the history in porcupine's form.
//
// An operation that never ended counts as Unknown. An Unknown create or
// delete gets a late return time: the server may still apply it after the
// client gave up, so the checker must be free to place its effect at any
// point after its call (or nowhere, see [Model]). The return time is the end
// of the history, or the real return plus the unknown horizon given to
// [NewHistory] if that is earlier. An Unknown use keeps its real return
// time: it changes nothing, so any point in its interval explains it.
func (h *History) Operations() []porcupine.Operation {
	h.mu.Lock()
	defer h.mu.Unlock()
	end := h.Now()
	for _, r := range h.ops {
		end = max(end, r.ret)
	}
	end++
	ops := make([]porcupine.Operation, 0, len(h.ops))
	for _, r := range h.ops {
		switch {
		case !r.done:
			r.out, r.ret = Unknown, end
		case r.out == Unknown && r.in.Kind != Use:
			r.ret = h.lateReturn(r.ret, end)
		}
		ops = append(ops, porcupine.Operation{
			ClientId: r.client, Input: r.in, Call: r.call,
			Output: r.out, Return: r.ret, Metadata: r.node,
		})
	}
	return ops
}

// lateReturn is when an Unknown write that returned at ret may last take
// effect, in a history that ends at end.
func (h *History) lateReturn(ret, end int64) int64 {
	if h.horizon == 0 {
		return end
	}
	return min(end, ret+h.horizon)
}
