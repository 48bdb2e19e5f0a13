package api

import (
	"testing"
	"time"
)

func TestAccepts(t *testing.T) {
	tests := []struct {
		accept, produces string
		want             bool
	}{
		{"", "application/json", true},
		{"*/*", "application/json", true},
		{"application/*", "application/json", true},
		{"application/json; q=0.9, text/html", "application/json", true},
		{"text/html", "application/json", false},
		{"application/x-pem-file", "application/json", false},
		{"text/*", "application/x-pem-file", false},
	}
	for _, tt := range tests {
		if got := accepts(tt.accept, tt.produces); got != tt.want {
			t.Errorf("accepts(%q, %q): got %v, want %v", tt.accept, tt.produces, got, tt.want)
		}
	}
}

func TestLimiterBlocksAfterBurstAndRefills(t *testing.T) {
	now := time.Unix(0, 0)
	l := newLimiter()
	l.now = func() time.Time { return now }
	for i := 0; i < limitBurst; i++ {
		if !l.allow("a") {
			t.Fatalf("failure %d: blocked before the burst was used", i)
		}
		l.failed("a")
	}
	if l.allow("a") {
		t.Fatalf("after %d failures: got allowed, want blocked", limitBurst)
	}
	if !l.allow("b") {
		t.Fatal("another address: got blocked, want allowed")
	}
	now = now.Add(limitRefill)
	if !l.allow("a") {
		t.Fatalf("after %v: got blocked, want one more attempt", limitRefill)
	}
}

func TestLimiterPrunesRecoveredAddresses(t *testing.T) {
	now := time.Unix(0, 0)
	l := newLimiter()
	l.now = func() time.Time { return now }
	l.failed("a")
	now = now.Add(limitBurst * limitRefill)
	l.prune()
	if len(l.buckets) != 0 {
		t.Fatalf("got %d buckets after full refill, want 0", len(l.buckets))
	}
}
