package api

import (
	"net/http/httptest"
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
		if !l.take("a") {
			t.Fatalf("attempt %d: blocked before the burst was used", i)
		}
	}
	if l.take("a") {
		t.Fatalf("after %d failures: got allowed, want blocked", limitBurst)
	}
	if !l.take("b") {
		t.Fatal("another address: got blocked, want allowed")
	}
	now = now.Add(limitRefill)
	if !l.take("a") {
		t.Fatalf("after %v: got blocked, want one more attempt", limitRefill)
	}
	if l.take("a") {
		t.Fatal("the refilled attempt was used: got allowed, want blocked")
	}
}

func TestLimiterRefundsSuccess(t *testing.T) {
	l := newLimiter()
	for i := 0; i < 3*limitBurst; i++ {
		if !l.take("a") {
			t.Fatalf("successful attempt %d: got blocked, want refunded attempts to keep it open", i)
		}
		l.refund("a")
	}
}

func TestLimiterPrunesRecoveredAddresses(t *testing.T) {
	now := time.Unix(0, 0)
	l := newLimiter()
	l.now = func() time.Time { return now }
	l.take("a")
	now = now.Add(limitBurst * limitRefill)
	l.prune()
	if len(l.buckets) != 0 {
		t.Fatalf("got %d buckets after full refill, want 0", len(l.buckets))
	}
}

func TestClientIPGroupsIPv6(t *testing.T) {
	tests := map[string]string{
		"192.0.2.7:443":             "192.0.2.7",
		"[2001:db8:1:2::5]:443":     "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::]:443": "2001:db8:1:2::/64",
	}
	for remote, want := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		if got := clientIP(r); got != want {
			t.Errorf("clientIP(%s): got %q, want %q", remote, got, want)
		}
	}
}
