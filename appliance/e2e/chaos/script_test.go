package chaos

import (
	"sync/atomic"
	"testing"

	"github.com/anishathalye/porcupine"
)

// scriptStep is one line of a hand-written history: a call or a return. A
// script lists them in real-time order, which is all linearizability cares
// about, so histories read like the interleavings they describe.
type scriptStep struct {
	label  string // names the operation across its call and return
	call   bool
	client int
	in     Input
	out    Outcome
}

// call starts operation label: client sends kind on key.
func call(label string, client int, kind OpKind, key string) scriptStep {
	return scriptStep{label: label, call: true, client: client, in: Input{Kind: kind, Key: key}}
}

// ret ends operation label with out.
func ret(label string, out Outcome) scriptStep {
	return scriptStep{label: label, out: out}
}

// op is a call immediately followed by its return: an operation that
// overlaps nothing.
func op(client int, kind OpKind, key string, out Outcome) []scriptStep {
	label := kind.String() + key + out.String()
	return []scriptStep{call(label, client, kind, key), ret(label, out)}
}

// script flattens steps and single operations into one script.
func script(parts ...any) []scriptStep {
	var steps []scriptStep
	for _, p := range parts {
		switch p := p.(type) {
		case scriptStep:
			steps = append(steps, p)
		case []scriptStep:
			steps = append(steps, p...)
		}
	}
	return steps
}

// newCountingHistory is a History whose clock ticks once per reading, so a
// script's order is its timeline and runs are exactly repeatable.
// unknownHorizon is in ticks (the clock's nanoseconds), as for NewHistory.
func newCountingHistory(unknownHorizon int64) *History {
	var now atomic.Int64
	return &History{clock: func() int64 { return now.Add(1) }, horizon: unknownHorizon}
}

// play records a script in a counting History with no unknown horizon.
// Operations whose return is missing from the script stay open and count as
// Unknown.
func play(t *testing.T, steps []scriptStep) *History {
	t.Helper()
	return playWithin(t, 0, steps)
}

// playWithin is play with an unknown horizon of that many ticks.
func playWithin(t *testing.T, unknownHorizon int64, steps []scriptStep) *History {
	t.Helper()
	h := newCountingHistory(unknownHorizon)
	open := map[string]Handle{}
	for _, s := range steps {
		if s.call {
			open[s.label] = h.Begin(s.client, 0, s.in)
			continue
		}
		hd, ok := open[s.label]
		if !ok {
			t.Fatalf("script returns %q before calling it", s.label)
		}
		h.End(hd, s.out)
		delete(open, s.label)
	}
	return h
}

// ops plays a script and returns porcupine's view of it.
func ops(t *testing.T, steps []scriptStep) []porcupine.Operation {
	t.Helper()
	return play(t, steps).Operations()
}
