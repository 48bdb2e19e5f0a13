package main

import (
	"fmt"
	"slices"
	"time"
)

// result is one line of kwbench's output.
type result struct {
	name     string
	apiOps   float64 // per second
	rawOps   float64 // per second
	p50, p99 time.Duration
}

func newResult(name string, api apiRun, raw rawRun) result {
	lat := slices.Clone(api.latencies)
	slices.Sort(lat)
	return result{
		name:   name,
		apiOps: perSecond(api.ops, api.elapsed),
		rawOps: perSecond(raw.ops, raw.elapsed),
		p50:    percentile(lat, 50),
		p99:    percentile(lat, 99),
	}
}

func perSecond(ops int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(ops) / d.Seconds()
}

// percentile returns the p-th percentile of sorted by the nearest-rank
// method: the smallest value with at least p percent of values at or below.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n)
	return sorted[max(rank, 1)-1]
}

// line formats r as kwbench prints it.
func (r result) line() string {
	ratio := 0.0
	if r.rawOps > 0 {
		ratio = r.apiOps / r.rawOps
	}
	return fmt.Sprintf("bench sign %s api_ops_per_s=%.0f raw_ops_per_s=%.0f ratio=%.2f p50_ms=%.3f p99_ms=%.3f",
		r.name, r.apiOps, r.rawOps, ratio, ms(r.p50), ms(r.p99))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
