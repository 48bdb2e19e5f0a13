package timesync

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// TestCombine checks which answers are outliers and what the rest combine to.
func TestCombine(t *testing.T) {
	ms := time.Millisecond
	down := ServerResult{Err: "i/o timeout"}
	tests := []struct {
		name         string
		results      []ServerResult
		want         time.Duration
		wantOutliers []bool
		wantErr      error
	}{
		{"one server", []ServerResult{{Offset: 7 * ms}}, 7 * ms, []bool{false}, nil},
		{"three agree", []ServerResult{{Offset: 10 * ms}, {Offset: 20 * ms}, {Offset: 30 * ms}}, 20 * ms, []bool{false, false, false}, nil},
		{"one far off", []ServerResult{{Offset: 10 * ms}, {Offset: 9 * time.Second}, {Offset: 30 * ms}}, 20 * ms, []bool{false, true, false}, nil},
		{"jittery but honest", []ServerResult{{Offset: 0}, {Offset: 60 * ms}, {Offset: 120 * ms}}, 60 * ms, []bool{false, false, false}, nil},
		{"far off among four", []ServerResult{{Offset: -5 * ms}, {Offset: 5 * ms}, {Offset: 0}, {Offset: -400 * ms}}, 0, []bool{false, false, false, true}, nil},
		{"down servers ignored", []ServerResult{down, {Offset: 40 * ms}, down}, 40 * ms, []bool{false, false, false}, nil},
		{"none answers", []ServerResult{down, down}, 0, nil, ErrNoAnswer},
		{"two disagree", []ServerResult{{Offset: 0}, {Offset: 3 * time.Second}}, 0, nil, ErrNoMajority},
		{"two against two", []ServerResult{{Offset: 0}, {Offset: time.Second}, {Offset: 0}, {Offset: time.Second}}, 0, nil, ErrNoMajority},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			results := slices.Clone(tt.results)
			got, err := combine(results)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("combine error %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if got != tt.want {
				t.Errorf("combine = %v, want %v", got, tt.want)
			}
			for i, r := range results {
				if r.Outlier != tt.wantOutliers[i] {
					t.Errorf("answer %d (%v): Outlier %v, want %v", i, r.Offset, r.Outlier, tt.wantOutliers[i])
				}
			}
		})
	}
}
