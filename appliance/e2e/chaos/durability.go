package chaos

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/anishathalye/porcupine"
)

// FindingKind classifies what [CheckLostWrites] found wrong with the final
// key set.
type FindingKind int

// The durability violations.
const (
	// LostWrite: an acknowledged create whose key is gone from every node,
	// and no delete that could have run after it explains that.
	LostWrite FindingKind = iota
	// Resurrected: a key some node still has although an acknowledged delete
	// removed it, and no create that could have run after it explains that.
	// A key that was never successfully created at all is reported the same
	// way.
	Resurrected
	// Disagreement: the nodes, after the cluster settled, do not hold the
	// same keys.
	Disagreement
)

// String names the finding kind.
func (k FindingKind) String() string {
	switch k {
	case LostWrite:
		return "lost write"
	case Resurrected:
		return "resurrected key"
	case Disagreement:
		return "nodes disagree"
	default:
		return fmt.Sprintf("FindingKind(%d)", int(k))
	}
}

// Finding is one durability violation for one key.
type Finding struct {
	Kind FindingKind
	Key  string
	// Op is the acknowledged operation the final state contradicts; zero for
	// a Disagreement or for a key that was never created.
	Op porcupine.Operation
	// Holders are the indexes of the nodes that have the key at the end.
	Holders []int
}

// String renders the finding for a test failure message.
func (f Finding) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: key %s held by nodes %v", f.Kind, f.Key, f.Holders)
	if in, ok := f.Op.Input.(Input); ok {
		fmt.Fprintf(&b, "; contradicts %s -> %v by client %d on node %v, called at %v, returned at %v",
			in.Kind, f.Op.Output, f.Op.ClientId, f.Op.Metadata, f.Op.Call, f.Op.Return)
	}
	return b.String()
}

// CheckLostWrites compares the key set every node holds at the end of a run
// (final[i] are the key IDs node i lists, read after the cluster settled and
// every node is back) with what history acknowledged.
//
// Linearizability alone does not catch a write lost after the last
// operation that looked at its key, so the end state is checked explicitly.
// For every key the history touches:
//
//   - all nodes must agree on whether they hold it ([Disagreement]);
//   - if no node holds it, then every acknowledged create of it must be
//     followed by a delete (acknowledged or Unknown) whose interval reaches
//     past the create's call ([LostWrite] otherwise);
//   - if some node holds it, some create (acknowledged or Unknown) must reach
//     past the call of every acknowledged delete ([Resurrected] otherwise).
//
// Keys the history never touches are ignored, so final may list everything
// on the nodes. The findings are sorted by key; none means durable. It
// returns [ErrNoFinalState] if final is empty and [ErrMalformedHistory] for
// operations this package did not record.
func CheckLostWrites(history []porcupine.Operation, final [][]string) ([]Finding, error) {
	if len(final) == 0 {
		return nil, fmt.Errorf("check lost writes: %w", ErrNoFinalState)
	}
	if err := validate(history); err != nil {
		return nil, fmt.Errorf("check lost writes: %w", err)
	}
	byKey := map[string][]porcupine.Operation{}
	for _, op := range history {
		key := op.Input.(Input).Key // validate made sure
		byKey[key] = append(byKey[key], op)
	}
	held := holders(final)
	var findings []Finding
	for _, key := range slices.Sorted(maps.Keys(byKey)) {
		findings = append(findings, checkKey(key, byKey[key], held[key], len(final))...)
	}
	return findings, nil
}

// holders maps each key to the sorted indexes of the nodes that list it.
func holders(final [][]string) map[string][]int {
	held := map[string][]int{}
	for node, keys := range final {
		for _, key := range keys {
			if !slices.Contains(held[key], node) {
				held[key] = append(held[key], node)
			}
		}
	}
	return held
}

// checkKey applies the rules of [CheckLostWrites] to one key's operations.
func checkKey(key string, ops []porcupine.Operation, held []int, nodes int) []Finding {
	var findings []Finding
	if len(held) != 0 && len(held) != nodes {
		findings = append(findings, Finding{Kind: Disagreement, Key: key, Holders: held})
	}
	if len(held) == 0 {
		if create, ok := unexplained(ops, Create, Delete); ok {
			findings = append(findings, Finding{Kind: LostWrite, Key: key, Op: create})
		}
		return findings
	}
	if del, ok := unexplained(ops, Delete, Create); ok {
		findings = append(findings, Finding{Kind: Resurrected, Key: key, Op: del, Holders: held})
		return findings
	}
	if !anyEffective(ops, Create) {
		findings = append(findings, Finding{Kind: Resurrected, Key: key, Holders: held})
	}
	return findings
}

// unexplained finds the acknowledged write of kind want that the final state
// contradicts: the one called last, when no write of kind undo (acknowledged
// or Unknown) can be ordered after it. Checking the last-called one is
// enough: an undo that can follow it can follow every earlier one too.
func unexplained(ops []porcupine.Operation, want, undo OpKind) (porcupine.Operation, bool) {
	var last porcupine.Operation
	found := false
	for _, op := range ops {
		if op.Input.(Input).Kind == want && op.Output.(Outcome) == OK && (!found || op.Call > last.Call) {
			last, found = op, true
		}
	}
	if !found {
		return porcupine.Operation{}, false
	}
	for _, op := range ops {
		if isEffective(op, undo) && op.Return >= last.Call {
			return porcupine.Operation{}, false
		}
	}
	return last, true
}

// anyEffective reports whether some operation of kind may have taken effect.
func anyEffective(ops []porcupine.Operation, kind OpKind) bool {
	return slices.ContainsFunc(ops, func(op porcupine.Operation) bool { return isEffective(op, kind) })
}

// isEffective reports whether op is a write of kind that did or may have
// changed the key: acknowledged, or Unknown.
func isEffective(op porcupine.Operation, kind OpKind) bool {
	out := op.Output.(Outcome)
	return op.Input.(Input).Kind == kind && (out == OK || out == Unknown)
}
