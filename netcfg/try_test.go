package netcfg

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/netcfg/netcfgtest"
)

// tried is the config the Try tests switch to from base.
var tried = Config{
	IPAddress: "192.0.2.77", Netmask: "255.255.255.128", Gateway: "192.0.2.126",
	IPv6: &IPv6Config{CIDR: "fc00::77/64"},
}

// try calls Try or fails the test, and checks that the tried config is in
// force and pending.
func (tb *testbed) try(t *testing.T, c Config, timeout time.Duration) (string, time.Time) {
	t.Helper()
	id, err := tb.m.Try(context.Background(), c, timeout)
	if err != nil {
		t.Fatalf("Try: %v", err)
	}
	tb.checkState(t, c)
	pid, deadline, ok := tb.m.Pending()
	if !ok || pid != id {
		t.Fatalf("Pending() = %q, %t, want %q, true", pid, ok, id)
	}
	if d, _ := tb.m.Desired(); !reflect.DeepEqual(d, c) {
		t.Errorf("Desired() during Try = %+v, want the tried config", d)
	}
	return id, deadline
}

// TestTryRevertsUnlessConfirmed: an unconfirmed Try comes back to the
// previous config by itself, with traffic to the old address working again.
func TestTryRevertsUnlessConfirmed(t *testing.T) {
	t.Parallel()
	tb := newTestbed(t)
	tb.apply(t, base)
	id, _ := tb.try(t, tried, 300*time.Millisecond)

	tb.waitState(t, base)
	if _, _, ok := tb.m.Pending(); ok {
		t.Errorf("Pending() after revert: ok, want none")
	}
	if err := tb.m.Confirm(id); !errors.Is(err, ErrNoTry) {
		t.Errorf("Confirm after revert = %v, want ErrNoTry", err)
	}
	if d, _ := tb.m.Desired(); !reflect.DeepEqual(d, base) {
		t.Errorf("Desired() after revert = %+v, want base", d)
	}
	netcfgtest.Echo(t, tb.app, addrPort("192.0.2.1"), limit)
	netcfgtest.WaitRoundTrip(t, tb.lan, addrPort("192.0.2.1"), limit)
	tb.waitLogs(t, "not confirmed in time, reverted")
}

// TestTryConfirmed: a confirmed Try stays past its deadline.
func TestTryConfirmed(t *testing.T) {
	t.Parallel()
	tb := newTestbed(t)
	tb.apply(t, base)
	id, deadline := tb.try(t, tried, 300*time.Millisecond)
	if err := tb.m.Confirm("not-" + id); !errors.Is(err, ErrNoTry) {
		t.Errorf("Confirm(wrong id) = %v, want ErrNoTry", err)
	}
	if err := tb.m.Confirm(id); err != nil {
		t.Fatalf("Confirm: %v", err)
	}
	if _, _, ok := tb.m.Pending(); ok {
		t.Errorf("Pending() after Confirm: ok, want none")
	}
	// Nothing may happen at the deadline, so there is nothing to poll for.
	time.Sleep(time.Until(deadline) + 300*time.Millisecond)
	tb.checkState(t, tried)
	if d, _ := tb.m.Desired(); !reflect.DeepEqual(d, tried) {
		t.Errorf("Desired() after Confirm = %+v, want the tried config", d)
	}
	if err := tb.m.Confirm(id); !errors.Is(err, ErrNoTry) {
		t.Errorf("second Confirm = %v, want ErrNoTry", err)
	}
}

// TestTryTwice: a second Try replaces the first, and an unconfirmed one
// still falls back to the last confirmed config, not the first Try's.
func TestTryTwice(t *testing.T) {
	t.Parallel()
	tb := newTestbed(t)
	tb.apply(t, base)
	first, _ := tb.try(t, tried, time.Minute)
	second := Config{IPAddress: "192.0.2.99", Netmask: "255.255.255.0", Gateway: "0.0.0.0"}
	tb.try(t, second, 300*time.Millisecond)
	if err := tb.m.Confirm(first); !errors.Is(err, ErrNoTry) {
		t.Errorf("Confirm(replaced try) = %v, want ErrNoTry", err)
	}
	tb.waitState(t, base)
}

// TestApplySettlesTry: Apply during a Try is definite; the Try's timer must
// not revert it.
func TestApplySettlesTry(t *testing.T) {
	t.Parallel()
	tb := newTestbed(t)
	tb.apply(t, base)
	id, deadline := tb.try(t, tried, 200*time.Millisecond)
	tb.apply(t, tried)
	if _, _, ok := tb.m.Pending(); ok {
		t.Errorf("Pending() after Apply: ok, want none")
	}
	time.Sleep(time.Until(deadline) + 300*time.Millisecond) // past the old deadline
	tb.checkState(t, tried)
	if err := tb.m.Confirm(id); !errors.Is(err, ErrNoTry) {
		t.Errorf("Confirm after Apply = %v, want ErrNoTry", err)
	}
}

// TestTryNeedsConfig: without a confirmed config there is nothing to come
// back to, so Try refuses and changes nothing.
func TestTryNeedsConfig(t *testing.T) {
	t.Parallel()
	tb := newTestbed(t)
	if _, err := tb.m.Try(context.Background(), tried, time.Minute); !errors.Is(err, ErrNotConfigured) {
		t.Fatalf("Try before Apply = %v, want ErrNotConfigured", err)
	}
	if got := tb.globalAddrs(t); len(got) != 0 {
		t.Errorf("kwapp0 addresses after a refused Try: %v, want none", got)
	}
}

// TestTryRefusedRestores: when the kernel refuses a tried config, Try puts
// the previous one back at once.
func TestTryRefusedRestores(t *testing.T) {
	t.Parallel()
	tb := newTestbed(t)
	v4only := base
	v4only.IPv6 = nil
	tb.apply(t, v4only)
	// With IPv6 off on kwapp0 the kernel refuses tried's IPv6 address, after
	// Try has already replaced the IPv4 one.
	netcfgtest.Sysctl(t, tb.app, "net/ipv6/conf/"+iface+"/disable_ipv6", "1")
	_, err := tb.m.Try(context.Background(), tried, time.Minute)
	if err == nil || errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "fc00::77/64") {
		t.Fatalf("Try with IPv6 disabled = %v, want the kernel's refusal of fc00::77/64", err)
	}
	tb.checkState(t, v4only)
	if _, _, ok := tb.m.Pending(); ok {
		t.Errorf("Pending() after a refused Try: ok, want none")
	}
	if d, _ := tb.m.Desired(); !reflect.DeepEqual(d, v4only) {
		t.Errorf("Desired() after a refused Try = %+v, want the previous config", d)
	}
}

// TestTryDefaultTimeout: no timeout means DefaultTryTimeout.
func TestTryDefaultTimeout(t *testing.T) {
	t.Parallel()
	tb := newTestbed(t)
	tb.apply(t, base)
	start := time.Now()
	_, deadline := tb.try(t, tried, 0)
	if d := deadline.Sub(start); d < DefaultTryTimeout || d > DefaultTryTimeout+limit {
		t.Errorf("deadline %v after Try, want about %v", d, DefaultTryTimeout)
	}
}
