package timesync

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSkewAlarm checks which members are named at the default threshold.
func TestSkewAlarm(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name    string
		offsets map[string]time.Duration
		want    []string
	}{
		{"empty", nil, nil},
		{"alone", map[string]time.Duration{"a": 0}, nil},
		{"all within", map[string]time.Duration{"a": 0, "b": 300 * ms, "c": -190 * ms}, nil},
		{"one far", map[string]time.Duration{"a": 0, "b": 20 * ms, "c": 900 * ms}, []string{"c"}},
		{"this node far", map[string]time.Duration{"self": 0, "b": -2 * time.Second, "c": -2*time.Second + 10*ms}, []string{"self"}},
		{"two disagree", map[string]time.Duration{"a": 0, "b": 600 * ms}, []string{"a", "b"}},
		{"spread both ways", map[string]time.Duration{"a": 0, "b": 300 * ms, "c": 600 * ms}, []string{"a", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SkewAlarm(tt.offsets, 0)
			if !slices.Equal(got, tt.want) {
				t.Errorf("SkewAlarm = %v, want %v", got, tt.want)
			}
			for id, o := range tt.offsets { // the members not named agree pairwise
				for id2, o2 := range tt.offsets {
					if !slices.Contains(got, id) && !slices.Contains(got, id2) && (o-o2).Abs() > DefaultSkewThreshold {
						t.Errorf("%s and %s differ by %v and neither is named", id, id2, (o - o2).Abs())
					}
				}
			}
		})
	}
	if got := SkewAlarm(map[string]time.Duration{"a": 0, "b": 300 * ms}, 100*ms); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("SkewAlarm at 100ms = %v, want both", got)
	}
}

// TestCheckJoinSkew checks that a join is refused, naming the members, when
// any member's clock is too far from this node's.
func TestCheckJoinSkew(t *testing.T) {
	ms := time.Millisecond
	if err := CheckJoinSkew(map[string]time.Duration{"a": 499 * ms, "b": -499 * ms}, 0); err != nil {
		t.Errorf("within the threshold: %v, want nil", err)
	}
	err := CheckJoinSkew(map[string]time.Duration{"a": 10 * ms, "b": -501 * ms, "c": 2 * time.Second}, 0)
	if !errors.Is(err, ErrClockSkew) {
		t.Fatalf("error %v, want ErrClockSkew", err)
	}
	for _, want := range []string{"b by -501ms", "c by 2s"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "member a") {
		t.Errorf("error %q names member a, which is within the threshold", err)
	}
	if err := CheckJoinSkew(map[string]time.Duration{"a": 200 * ms}, 100*ms); !errors.Is(err, ErrClockSkew) {
		t.Errorf("at a 100ms threshold: %v, want ErrClockSkew", err)
	}
}
