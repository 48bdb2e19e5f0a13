package timesync

import (
	"fmt"
	"slices"
	"time"
)

// The outlier test: an answer is kept when it lies within outlierMADs·MAD
// of the median answer, the bound clamped to [minOutlierBound,
// maxOutlierBound]. 1.4826·MAD estimates the standard deviation of
// well-behaved answers, so three of those keep every honest server; the
// floor keeps servers that agree to a millisecond from throwing each other
// out over network jitter; the ceiling keeps servers that disagree wildly
// from widening the bound until they all pass (two servers, one of them
// wrong, are each as far from the median as the MAD).
const (
	outlierMADs     = 3 * 1.4826
	minOutlierBound = 50 * time.Millisecond
	maxOutlierBound = StepThreshold
)

// ServerResult is one server's answer to one sync.
type ServerResult struct {
	// Server is the configured address.
	Server string
	// Offset is the server's time minus the clock's, from this answer.
	Offset time.Duration
	// RTT is the round trip the answer took, less the server's own delay.
	RTT time.Duration
	// Stratum is the server's distance from a reference clock.
	Stratum uint8
	// Outlier means the answer disagreed with the others and was ignored.
	Outlier bool
	// Err says why the server gave no usable answer; empty when it did.
	Err string
}

// combine marks the answers in results that disagree with the rest as
// outliers and returns the mean offset of those that remain. It fails with
// ErrNoAnswer when no server answered, and with ErrNoMajority when the
// remaining answers are not a majority of all answers: two servers that
// disagree cannot say which of them is wrong.
func combine(results []ServerResult) (time.Duration, error) {
	var offsets []time.Duration
	for _, r := range results {
		if r.Err == "" {
			offsets = append(offsets, r.Offset)
		}
	}
	if len(offsets) == 0 {
		return 0, ErrNoAnswer
	}
	med := median(offsets)
	deviations := make([]time.Duration, len(offsets))
	for i, o := range offsets {
		deviations[i] = (o - med).Abs()
	}
	bound := time.Duration(outlierMADs * float64(median(deviations)))
	bound = min(max(bound, minOutlierBound), maxOutlierBound)
	var sum time.Duration
	kept := 0
	for i := range results {
		r := &results[i]
		if r.Err != "" {
			continue
		}
		if r.Outlier = (r.Offset - med).Abs() > bound; !r.Outlier {
			sum += r.Offset
			kept++
		}
	}
	if 2*kept <= len(offsets) {
		return 0, fmt.Errorf("%w: %d of %d answers agree to within %v", ErrNoMajority, kept, len(offsets), bound)
	}
	return sum / time.Duration(kept), nil
}

// median is the middle of ds, or the mean of the two middle ones.
func median(ds []time.Duration) time.Duration {
	s := slices.Sorted(slices.Values(ds))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return s[n/2-1] + (s[n/2]-s[n/2-1])/2
}
