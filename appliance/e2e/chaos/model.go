package chaos

import (
	"fmt"

	"github.com/anishathalye/porcupine"
)

// OpKind is what a client asked a node to do with one key.
type OpKind int

// The operations a client runs. Each touches exactly one key, which is what
// lets the model partition the history by key ID.
const (
	// Create generates a key with a chosen ID (POST /keys/{id} or
	// POST /keys/generate with an id).
	Create OpKind = iota
	// Delete removes the key (DELETE /keys/{id}).
	Delete
	// Use signs with the key, which proves it exists.
	Use
	numOpKinds
)

// String names the operation for logs and the visualisation.
func (k OpKind) String() string {
	switch k {
	case Create:
		return "create"
	case Delete:
		return "delete"
	case Use:
		return "use"
	default:
		return fmt.Sprintf("OpKind(%d)", int(k))
	}
}

// Outcome is what the client learnt from a node about one operation.
//
// The zero Outcome is Unknown, so a Node that cannot classify a response
// claims nothing about the key rather than something false.
type Outcome int

// The outcomes a client can observe.
const (
	// Unknown: a 5xx, a timeout or a connection error; the operation may or
	// may not have taken effect, now or later.
	Unknown Outcome = iota
	// OK: 2xx; the operation took effect.
	OK
	// Exists: 409 on Create; the key was already there and nothing changed.
	Exists
	// NotFound: 404 on Delete or Use; the key was not there and nothing
	// changed.
	NotFound
	numOutcomes
)

// String names the outcome for logs and the visualisation.
func (o Outcome) String() string {
	switch o {
	case Unknown:
		return "unknown"
	case OK:
		return "ok"
	case Exists:
		return "exists"
	case NotFound:
		return "not-found"
	default:
		return fmt.Sprintf("Outcome(%d)", int(o))
	}
}

// Input is one client request: the Input of a porcupine.Operation. The
// Output of the operation is its Outcome, and its Metadata the index of the
// node it was sent to (for the visualisation only).
type Input struct {
	Kind OpKind
	Key  string
}

// Model is the sequential specification of the key set as seen through the
// API, one register per key (one partition):
//
//	create: absent -> ok, now present;  present -> exists
//	delete: present -> ok, now absent;  absent -> not-found
//	use:    present -> ok;              absent -> not-found
//
// An Unknown create or delete may or may not have taken effect, so the model
// is nondeterministic there, and its state is the set of states the key may
// be in (the power-set construction of porcupine's NondeterministicModel,
// written out for a one-bit register). Together with the Unknown operation's
// late return time (see [History.Operations]) this lets the checker place
// its effect anywhere after its call, or nowhere. An Unknown use changes
// nothing and is always legal. Any other combination (say, create ->
// not-found) is illegal, so a Node that reports impossible outcomes fails the
// check rather than hiding.
var Model = porcupine.Model{
	Partition:                 partitionByKey,
	Init:                      func() any { return absentOnly },
	Step:                      step,
	Hash:                      hashState,
	DescribeOperation:         describeOperation,
	DescribeState:             describeState,
	DescribeOperationMetadata: describeMetadata,
}

// keyState is the set of states one key may be in: a bit for absent, a bit
// for present. Only Unknown writes make it hold both; the next definite
// outcome collapses it again.
type keyState uint8

// The keyState bits.
const (
	absentOnly  keyState = 1 << iota // the key may be absent
	presentOnly                      // the key may be present
)

// stateOf is the one-element set {present}.
func stateOf(present bool) keyState {
	if present {
		return presentOnly
	}
	return absentOnly
}

// step applies one operation to one key's state set. It never panics on
// foreign types: it reports them as illegal so that a malformed history
// fails loudly.
func step(state, input, output any) (bool, any) {
	st, okS := state.(keyState)
	in, okI := input.(Input)
	out, okO := output.(Outcome)
	if !okS || !okI || !okO || in.Kind < 0 || in.Kind >= numOpKinds {
		return false, state
	}
	var next keyState
	for _, present := range []bool{false, true} {
		if st&stateOf(present) != 0 {
			next |= stepOne(present, in.Kind, out)
		}
	}
	return next != 0, next
}

// stepOne is the table in [Model] for a key known to be present or absent:
// the set of states the operation can leave it in, empty if the outcome is
// impossible.
func stepOne(present bool, kind OpKind, out Outcome) keyState {
	switch {
	case out == Unknown && kind == Create:
		return stateOf(present) | presentOnly
	case out == Unknown && kind == Delete:
		return stateOf(present) | absentOnly
	case out == Unknown:
		return stateOf(present)
	case kind == Create && out == OK && !present,
		kind == Create && out == Exists && present,
		kind == Use && out == OK && present:
		return presentOnly
	case kind == Delete && out == OK && present,
		kind == Delete && out == NotFound && !present,
		kind == Use && out == NotFound && !present:
		return absentOnly
	default:
		return 0
	}
}

// partitionByKey splits the history into one register per key: keys are
// independent, so the history is linearizable iff every partition is, and
// porcupine checks the partitions in parallel on much smaller searches.
// Operations whose Input is not an [Input] land in one extra partition where
// [step] rejects them.
func partitionByKey(history []porcupine.Operation) [][]porcupine.Operation {
	index := map[string]int{}
	var parts [][]porcupine.Operation
	var foreign []porcupine.Operation
	for _, op := range history {
		in, ok := op.Input.(Input)
		if !ok {
			foreign = append(foreign, op)
			continue
		}
		i, seen := index[in.Key]
		if !seen {
			i = len(parts)
			index[in.Key] = i
			parts = append(parts, nil)
		}
		parts[i] = append(parts[i], op)
	}
	if len(foreign) > 0 {
		parts = append(parts, foreign)
	}
	return parts
}

// hashState lets porcupine's cache skip Equal calls; the state is two bits.
func hashState(state any) uint64 {
	st, _ := state.(keyState)
	return uint64(st)
}

// describeOperation renders "create(k3) -> exists" in the visualisation.
func describeOperation(input, output any) string {
	in, ok := input.(Input)
	if !ok {
		return fmt.Sprintf("%v -> %v", input, output)
	}
	return fmt.Sprintf("%s(%s) -> %v", in.Kind, in.Key, output)
}

// describeState renders one key's state set in the visualisation.
func describeState(state any) string {
	switch st, _ := state.(keyState); st {
	case absentOnly:
		return "absent"
	case presentOnly:
		return "present"
	case absentOnly | presentOnly:
		return "absent or present"
	default:
		return "impossible"
	}
}

// describeMetadata names the node an operation was sent to.
func describeMetadata(meta any) string {
	if node, ok := meta.(int); ok {
		return fmt.Sprintf("node %d", node)
	}
	return ""
}
