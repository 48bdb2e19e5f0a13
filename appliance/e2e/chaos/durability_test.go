package chaos

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/anishathalye/porcupine"
)

func TestCheckLostWrites(t *testing.T) {
	both := func(keys ...string) [][]string { return [][]string{keys, keys} }
	tests := []struct {
		name  string
		steps []scriptStep
		final [][]string
		want  []FindingKind
	}{
		{"created and kept", script(op(0, Create, "k", OK)), both("k"), nil},
		{"created and lost", script(op(0, Create, "k", OK)), both(), []FindingKind{LostWrite}},
		{"created, deleted, gone", script(op(0, Create, "k", OK), op(1, Delete, "k", OK)), both(), nil},
		{"delete that failed explains nothing", script(
			op(0, Create, "k", OK), op(1, Delete, "k", NotFound)), both(), []FindingKind{LostWrite}},
		{"unknown delete after the create explains absence", script(
			op(0, Create, "k", OK), op(1, Delete, "k", Unknown)), both(), nil},
		{"delete concurrent with the create explains absence", script(
			call("c", 0, Create, "k"), call("d", 1, Delete, "k"), ret("c", OK), ret("d", OK)), both(), nil},
		{"delete before the last create does not explain absence", script(
			op(0, Create, "k", OK), op(1, Delete, "k", OK), op(0, Create, "k", OK)), both(), []FindingKind{LostWrite}},
		{"deleted and resurrected", script(
			op(0, Create, "k", OK), op(1, Delete, "k", OK)), both("k"), []FindingKind{Resurrected}},
		{"recreated after delete", script(
			op(0, Create, "k", OK), op(1, Delete, "k", OK), op(2, Create, "k", OK)), both("k"), nil},
		{"unknown create after delete explains presence", script(
			op(0, Create, "k", OK), op(1, Delete, "k", OK), op(2, Create, "k", Unknown)), both("k"), nil},
		{"unknown create explains presence", script(op(0, Create, "k", Unknown)), both("k"), nil},
		{"unknown create explains absence", script(op(0, Create, "k", Unknown)), both(), nil},
		{"never created yet present", script(
			op(0, Use, "k", NotFound), op(0, Create, "k", Exists)), both("k"), []FindingKind{Resurrected}},
		{"nodes disagree", script(op(0, Create, "k", OK)), [][]string{{"k"}, {}}, []FindingKind{Disagreement}},
		{"nodes disagree on a resurrected key", script(
			op(0, Create, "k", OK), op(1, Delete, "k", OK)), [][]string{{}, {"k"}}, []FindingKind{Disagreement, Resurrected}},
		{"keys outside the history are ignored", script(op(0, Create, "k", OK)), [][]string{{"k", "other"}, {"k"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			findings, err := CheckLostWrites(ops(t, tt.steps), tt.final)
			if err != nil {
				t.Fatalf("CheckLostWrites: %v", err)
			}
			var got []FindingKind
			for _, f := range findings {
				got = append(got, f.Kind)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("findings %v, want kinds %v", findings, tt.want)
			}
		})
	}
}

func TestCheckLostWritesUnknownHorizon(t *testing.T) {
	steps := script(op(1, Delete, "k", Unknown), op(2, Use, "k", NotFound), op(0, Create, "k", OK))
	for _, tt := range []struct {
		horizon int64
		want    int
	}{{0, 0}, {100, 0}, {2, 1}} {
		findings, err := CheckLostWrites(playWithin(t, tt.horizon, steps).Operations(), [][]string{{}})
		if err != nil || len(findings) != tt.want {
			t.Errorf("horizon %d ticks: CheckLostWrites = %v, %v; want %d findings", tt.horizon, findings, err, tt.want)
		}
	}
}

func TestFindingNamesTheContradictedOp(t *testing.T) {
	h := ops(t, script(op(3, Create, "k", OK), op(1, Delete, "k", OK), op(3, Create, "k", OK)))
	findings, err := CheckLostWrites(h, [][]string{{}})
	if err != nil || len(findings) != 1 {
		t.Fatalf("CheckLostWrites = %v, %v; want one finding", findings, err)
	}
	if f := findings[0]; f.Op.Call != h[2].Call || f.Key != "k" {
		t.Errorf("finding %v, want it to name the last create %+v", f, h[2])
	}
	if s := findings[0].String(); !strings.Contains(s, "lost write") || !strings.Contains(s, "client 3") {
		t.Errorf("finding renders as %q, want the kind and the client", s)
	}
}

func TestCheckLostWritesErrors(t *testing.T) {
	if _, err := CheckLostWrites(nil, nil); !errors.Is(err, ErrNoFinalState) {
		t.Errorf("no final state: error %v, want %v", err, ErrNoFinalState)
	}
	bad := []porcupine.Operation{{Input: "create k", Output: OK}}
	if _, err := CheckLostWrites(bad, [][]string{{}}); !errors.Is(err, ErrMalformedHistory) {
		t.Errorf("malformed history: error %v, want %v", err, ErrMalformedHistory)
	}
}
