package chaos

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// checkTimeout is far more than any hand-written history needs; hitting it
// fails the test through ErrCheckTimeout.
const checkTimeout = 10 * time.Second

func TestCheck(t *testing.T) {
	tests := []struct {
		name  string
		steps []scriptStep
		want  bool
	}{
		{"empty", nil, true},
		{"sequential lifecycle", script(
			op(0, Use, "k", NotFound), op(0, Create, "k", OK), op(1, Create, "k", Exists),
			op(1, Use, "k", OK), op(2, Delete, "k", OK), op(0, Delete, "k", NotFound),
			op(1, Use, "k", NotFound), op(2, Create, "k", OK)), true},
		{"keys are independent", script(
			op(0, Create, "a", OK), op(1, Create, "b", OK), op(0, Use, "b", OK), op(1, Delete, "a", OK)), true},
		{"concurrent create and use may see either state", script(
			call("c", 0, Create, "k"), call("u1", 1, Use, "k"), call("u2", 2, Use, "k"),
			ret("u1", NotFound), ret("u2", OK), ret("c", OK)), true},
		{"read goes back in time within one create", script(
			call("c", 0, Create, "k"), op(1, Use, "k", OK), op(2, Use, "k", NotFound), ret("c", OK)), false},
		{"two concurrent creates both win", script(
			call("a", 0, Create, "k"), call("b", 1, Create, "k"), ret("a", OK), ret("b", OK)), false},
		{"lost write: acknowledged create then not found", script(
			op(0, Create, "k", OK), op(1, Use, "k", NotFound)), false},
		{"lost write seen by a delete", script(
			op(0, Create, "k", OK), op(1, Delete, "k", NotFound)), false},
		{"stale read after acknowledged delete", script(
			op(0, Create, "k", OK), op(1, Delete, "k", OK), op(2, Use, "k", OK)), false},
		{"create of a deleted key reports exists", script(
			op(0, Create, "k", OK), op(1, Delete, "k", OK), op(2, Create, "k", Exists)), false},
		{"unknown create that took effect", script(
			op(0, Create, "k", Unknown), op(1, Use, "k", OK), op(2, Create, "k", Exists)), true},
		{"unknown create that never took effect", script(
			op(0, Create, "k", Unknown), op(1, Use, "k", NotFound), op(2, Delete, "k", NotFound)), true},
		{"unknown create that took effect late", script(
			op(0, Create, "k", Unknown), op(1, Use, "k", NotFound), op(2, Use, "k", OK)), true},
		{"unknown create cannot undo itself", script(
			op(0, Create, "k", Unknown), op(1, Use, "k", OK), op(2, Use, "k", NotFound)), false},
		{"unknown create cannot apply before its call", script(
			op(1, Use, "k", OK), op(0, Create, "k", Unknown)), false},
		{"unknown delete that took effect", script(
			op(0, Create, "k", OK), op(1, Delete, "k", Unknown), op(2, Use, "k", NotFound)), true},
		{"unknown delete that never took effect", script(
			op(0, Create, "k", OK), op(1, Delete, "k", Unknown), op(2, Use, "k", OK)), true},
		{"unknown delete cannot be undone without a create", script(
			op(0, Create, "k", OK), op(1, Delete, "k", Unknown), op(2, Use, "k", NotFound), op(0, Use, "k", OK)), false},
		{"unknown use explains nothing and constrains nothing", script(
			op(0, Create, "k", OK), op(1, Use, "k", Unknown), op(2, Delete, "k", OK), op(1, Use, "k", Unknown)), true},
		{"unfinished create counts as unknown", script(
			call("c", 0, Create, "k"), op(1, Use, "k", NotFound), op(2, Use, "k", OK)), true},
		{"impossible outcome: create not found", script(op(0, Create, "k", NotFound)), false},
		{"impossible outcome: use exists", script(op(0, Create, "k", OK), op(0, Use, "k", Exists)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := Check(ops(t, tt.steps), checkTimeout)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if got != tt.want {
				t.Errorf("linearizable = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestUnknownHorizon shows what a bound on late effects buys: an Unknown
// delete long past can explain a key vanishing only if it may still apply.
func TestUnknownHorizon(t *testing.T) {
	steps := script(op(0, Create, "k", OK), op(1, Delete, "k", Unknown),
		op(2, Use, "k", OK), op(0, Use, "k", OK), op(2, Use, "k", NotFound))
	for _, tt := range []struct {
		horizon int64
		want    bool
	}{{0, true}, {100, true}, {2, false}} {
		got, _, err := Check(playWithin(t, tt.horizon, steps).Operations(), checkTimeout)
		if err != nil || got != tt.want {
			t.Errorf("horizon %d ticks: Check = %v, %v; want %v", tt.horizon, got, err, tt.want)
		}
	}
}

func TestUnknownWritesReturnAfterEverything(t *testing.T) {
	h := ops(t, script(op(0, Create, "k", Unknown), op(1, Use, "k", Unknown), op(2, Delete, "k", OK)))
	last := h[2].Return
	if h[0].Return <= last {
		t.Errorf("unknown create returns at %d, want after the last return %d", h[0].Return, last)
	}
	if h[1].Return >= h[2].Call {
		t.Errorf("unknown use returns at %d, want its real return before %d", h[1].Return, h[2].Call)
	}
}

func TestCheckRejectsMalformedHistory(t *testing.T) {
	tests := []struct {
		name string
		op   porcupine.Operation
	}{
		{"foreign input", porcupine.Operation{Input: "create k", Output: OK}},
		{"foreign output", porcupine.Operation{Input: Input{Kind: Use, Key: "k"}, Output: 200}},
		{"unknown kind", porcupine.Operation{Input: Input{Kind: numOpKinds, Key: "k"}, Output: OK}},
		{"unknown outcome", porcupine.Operation{Input: Input{Kind: Use, Key: "k"}, Output: numOutcomes}},
		{"returns before call", porcupine.Operation{Input: Input{Kind: Use, Key: "k"}, Output: OK, Call: 5, Return: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Check([]porcupine.Operation{tt.op}, checkTimeout)
			if !errors.Is(err, ErrMalformedHistory) {
				t.Errorf("Check error = %v, want %v", err, ErrMalformedHistory)
			}
		})
	}
}

// TestCheckTimeoutIsNotAPass makes porcupine give up (a step that only ends
// when the checker cancels it) and expects an error, not a verdict.
func TestCheckTimeoutIsNotAPass(t *testing.T) {
	stuck := Model
	stuck.Step = nil
	stuck.StepContext = func(ctx context.Context, state, _, _ any) (bool, any) {
		<-ctx.Done()
		return false, state
	}
	ok, _, err := checkWith(stuck, ops(t, op(0, Create, "k", OK)), 10*time.Millisecond)
	if ok || !errors.Is(err, ErrCheckTimeout) {
		t.Errorf("checkWith = %v, %v; want false, %v", ok, err, ErrCheckTimeout)
	}
}

func TestVisualize(t *testing.T) {
	h := play(t, script(op(0, Create, "k", OK), op(1, Use, "k", NotFound)))
	h.Annotate(porcupine.Annotation{Tag: "node 0", Start: 1, End: 3, Description: "down"})
	ok, info, err := Check(h.Operations(), checkTimeout)
	if err != nil || ok {
		t.Fatalf("Check = %v, %v; want a violation", ok, err)
	}
	path := filepath.Join(t.TempDir(), "history.html")
	if err := Visualize(path, info, h.Annotations()); err != nil {
		t.Fatalf("Visualize: %v", err)
	}
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read visualisation: %v", err)
	}
	// The page embeds the history as JSON, which escapes ">".
	for _, want := range []string{"<html", `create(k) -\u003e ok`, `use(k) -\u003e not-found`, "node 0"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("visualisation lacks %q", want)
		}
	}
	if err := Visualize(filepath.Join(t.TempDir(), "missing", "x.html"), info, nil); err == nil {
		t.Errorf("Visualize into a missing directory succeeded")
	}
}
