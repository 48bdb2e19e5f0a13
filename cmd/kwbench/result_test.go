package main

import (
	"regexp"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      int
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value p50", ms(7), 50, 7 * time.Millisecond},
		{"one value p99", ms(7), 99, 7 * time.Millisecond},
		{"two values p50 is the lower", ms(1, 2), 50, 1 * time.Millisecond},
		{"two values p99 is the upper", ms(1, 2), 99, 2 * time.Millisecond},
		{"1..100 p50", hundred, 50, 50 * time.Millisecond},
		{"1..100 p99", hundred, 99, 99 * time.Millisecond},
		{"1..100 p100", hundred, 100, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(%v, %d) = %v, want %v", tt.sorted, tt.p, got, tt.want)
			}
		})
	}
}

func TestResultLine(t *testing.T) {
	tests := []struct {
		name string
		api  apiRun
		raw  rawRun
		want string
	}{
		{
			name: "ratio and rounding",
			api:  apiRun{ops: 3000, elapsed: 2 * time.Second, latencies: []time.Duration{3 * time.Millisecond, 1234567, 2 * time.Millisecond}},
			raw:  rawRun{ops: 9000, elapsed: 3 * time.Second},
			want: "bench sign p256 api_ops_per_s=1500 raw_ops_per_s=3000 ratio=0.50 p50_ms=2.000 p99_ms=3.000",
		},
		{
			name: "nothing measured",
			want: "bench sign p256 api_ops_per_s=0 raw_ops_per_s=0 ratio=0.00 p50_ms=0.000 p99_ms=0.000",
		},
		{
			name: "sub-millisecond latency keeps microseconds",
			api:  apiRun{ops: 1, elapsed: time.Second, latencies: []time.Duration{1234567}},
			raw:  rawRun{ops: 3, elapsed: time.Second},
			want: "bench sign p256 api_ops_per_s=1 raw_ops_per_s=3 ratio=0.33 p50_ms=1.235 p99_ms=1.235",
		},
	}
	format := regexp.MustCompile(`^bench sign (p256|ed25519|rsa2048) api_ops_per_s=\d+ raw_ops_per_s=\d+ ratio=\d+\.\d\d p50_ms=\d+\.\d{3} p99_ms=\d+\.\d{3}$`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := newResult("p256", tt.api, tt.raw).line()
			if got != tt.want {
				t.Errorf("line = %q, want %q", got, tt.want)
			}
			if !format.MatchString(got) {
				t.Errorf("line %q does not match the documented format", got)
			}
		})
	}
}
