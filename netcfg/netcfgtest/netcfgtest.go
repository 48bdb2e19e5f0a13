// Package netcfgtest builds throwaway network namespaces for tests of netcfg:
// fresh namespaces, veth pairs between them, addresses, and real TCP traffic
// across them. Everything lives in namespaces the test created, so a test
// never touches the host's interfaces, and everything is removed at cleanup.
package netcfgtest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// reexecEnv marks the copy of a test binary that Main started inside a user
// namespace, so that it does not start another.
const reexecEnv = "KEYWARDEN_NETCFGTEST_USERNS"

// Main runs a package's tests (call it from TestMain). Without root it
// first tries to re-execute the test binary inside a new user namespace,
// where it is root over namespaces it creates, and a new network namespace,
// where the host's interfaces are out of sight; unprivileged users can do
// this where the kernel allows user namespaces. When it cannot, the tests
// run as they are and NewNS skips.
func Main(m *testing.M) {
	if os.Geteuid() == 0 || os.Getenv(reexecEnv) != "" {
		os.Exit(m.Run())
	}
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), reexecEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  unix.CLONE_NEWUSER | unix.CLONE_NEWNET,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		os.Exit(0)
	case errors.As(err, &exit):
		os.Exit(exit.ExitCode())
	}
	fmt.Fprintf(os.Stderr, "netcfgtest: no user namespace (%v); tests that need network namespaces will skip\n", err)
	os.Exit(m.Run())
}

// NewNS returns a fresh network namespace that holds only a loopback
// interface (set up, so local addresses on it answer). It is freed at
// cleanup, once nothing else refers to it. The test is skipped when the
// process may not create namespaces (it needs CAP_SYS_ADMIN).
func NewNS(t testing.TB) netns.NsHandle {
	t.Helper()
	var ns netns.NsHandle
	err := onThread(func() error {
		var err error
		ns, err = netns.New()
		return err
	})
	if errors.Is(err, unix.EPERM) {
		t.Skipf("cannot create a network namespace (needs CAP_SYS_ADMIN, e.g. root): %v", err)
	}
	if err != nil {
		t.Fatalf("create network namespace: %v", err)
	}
	t.Cleanup(func() { ns.Close() })
	h := Handle(t, ns)
	lo, err := h.LinkByName("lo")
	if err == nil {
		err = h.LinkSetUp(lo)
	}
	if err != nil {
		t.Fatalf("set lo up in new namespace: %v", err)
	}
	return ns
}

// Do runs f on an OS thread that has entered ns. The thread is thrown away
// afterwards (the goroutine exits still locked to it), so no other goroutine
// can ever run in ns by accident. Sockets f opens stay in ns and may be used
// from any goroutine afterwards.
func Do(ns netns.NsHandle, f func() error) error {
	return onThread(func() error {
		if err := netns.Set(ns); err != nil {
			return fmt.Errorf("enter network namespace: %w", err)
		}
		return f()
	})
}

// onThread runs f on a locked OS thread that dies with its goroutine.
func onThread(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the runtime ends the thread
		errc <- f()
	}()
	return <-errc
}

// Handle returns a netlink handle whose sockets live in ns, closed at
// cleanup.
func Handle(t testing.TB, ns netns.NsHandle) *netlink.Handle {
	t.Helper()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatalf("netlink handle in namespace: %v", err)
	}
	t.Cleanup(h.Close)
	return h
}

// Veth creates a veth pair with end a in nsA and end b in nsB, and sets both
// ends up. The pair vanishes with its namespaces.
func Veth(t testing.TB, nsA netns.NsHandle, a string, nsB netns.NsHandle, b string) {
	t.Helper()
	veth := netlink.NewVeth(netlink.LinkAttrs{Name: a})
	veth.PeerName = b
	veth.PeerNamespace = netlink.NsFd(nsB)
	if err := Handle(t, nsA).LinkAdd(veth); err != nil {
		t.Fatalf("create veth %s/%s: %v", a, b, err)
	}
	SetUp(t, nsA, a)
	SetUp(t, nsB, b)
}

// SetUp sets the link named name in ns administratively up.
func SetUp(t testing.TB, ns netns.NsHandle, name string) {
	t.Helper()
	h := Handle(t, ns)
	if err := h.LinkSetUp(Link(t, h, name)); err != nil {
		t.Fatalf("set %s up: %v", name, err)
	}
}

// Link returns the link named name, or fails the test.
func Link(t testing.TB, h *netlink.Handle, name string) netlink.Link {
	t.Helper()
	l, err := h.LinkByName(name)
	if err != nil {
		t.Fatalf("link %s: %v", name, err)
	}
	return l
}

// AddAddr adds prefix (such as "192.0.2.2/24") to the link named name in ns.
// IPv6 addresses skip duplicate address detection, so they answer at once.
func AddAddr(t testing.TB, ns netns.NsHandle, name, prefix string) {
	t.Helper()
	a, err := netlink.ParseAddr(prefix)
	if err != nil {
		t.Fatalf("parse %q: %v", prefix, err)
	}
	if a.IP.To4() == nil {
		a.Flags |= unix.IFA_F_NODAD
	}
	h := Handle(t, ns)
	if err := h.AddrAdd(Link(t, h, name), a); err != nil {
		t.Fatalf("add %s to %s: %v", prefix, name, err)
	}
}

// Sysctl sets the network sysctl at key (such as
// "net/ipv6/conf/eth0/disable_ipv6") inside ns: /proc/sys/net shows the
// namespace of the thread that opens it.
func Sysctl(t testing.TB, ns netns.NsHandle, key, value string) {
	t.Helper()
	err := Do(ns, func() error {
		return os.WriteFile("/proc/sys/"+key, []byte(value), 0o644)
	})
	if err != nil {
		t.Fatalf("sysctl %s=%s: %v", key, value, err)
	}
}

// Snapshot describes the addresses and routes of every interface in ns, in
// a stable order, so that a test can show that something changed nothing.
// It leaves out what the kernel changes by itself over time (address flags
// such as "tentative", lifetimes, neighbours, the local routing table).
func Snapshot(t testing.TB, ns netns.NsHandle) string {
	t.Helper()
	h := Handle(t, ns)
	links, err := h.LinkList()
	if err != nil {
		t.Fatalf("list links: %v", err)
	}
	var lines []string
	for _, l := range links {
		a := l.Attrs()
		lines = append(lines, fmt.Sprintf("link %d %s up=%t", a.Index, a.Name, a.Flags&net.FlagUp != 0))
	}
	addrs, err := h.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatalf("list addresses: %v", err)
	}
	for _, a := range addrs {
		lines = append(lines, fmt.Sprintf("addr %d %s scope=%d", a.LinkIndex, a.IPNet, a.Scope))
	}
	routes, err := h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		t.Fatalf("list routes: %v", err)
	}
	for _, r := range routes {
		if r.Table == unix.RT_TABLE_LOCAL {
			continue // derived from the addresses, and late for tentative IPv6 ones
		}
		lines = append(lines, fmt.Sprintf("route table=%d dst=%s gw=%s oif=%d proto=%d metric=%d", r.Table, r.Dst, r.Gw, r.LinkIndex, r.Protocol, r.Priority))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// Echo serves TCP echo on addr inside ns until cleanup. It polls until the
// address can be bound (an IPv6 address is unusable while the kernel checks
// it for duplicates), for at most limit.
func Echo(t testing.TB, ns netns.NsHandle, addr netip.AddrPort, limit time.Duration) {
	t.Helper()
	var ln net.Listener
	err := poll(limit, func() error {
		return Do(ns, func() (err error) {
			ln, err = net.Listen("tcp", addr.String())
			return err
		})
	})
	if err != nil {
		t.Fatalf("echo server on %s: %v", addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				io.Copy(c, c)
			}()
		}
	}()
}

// RoundTrip connects from ns to dst, sends a message and checks that it
// comes back unchanged: proof that packets flow both ways.
func RoundTrip(ns netns.NsHandle, dst netip.AddrPort) error {
	var c net.Conn
	err := Do(ns, func() (err error) {
		c, err = net.DialTimeout("tcp", dst.String(), time.Second)
		return err
	})
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	msg := []byte("keywarden netcfg round trip")
	if _, err := c.Write(msg); err != nil {
		return fmt.Errorf("write to %s: %w", dst, err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("read echo from %s: %w", dst, err)
	}
	if string(got) != string(msg) {
		return fmt.Errorf("echo from %s: got %q, want %q", dst, got, msg)
	}
	return nil
}

// WaitRoundTrip retries RoundTrip until it succeeds or limit passes (the
// first packets may wait for neighbour discovery and duplicate address
// detection).
func WaitRoundTrip(t testing.TB, ns netns.NsHandle, dst netip.AddrPort, limit time.Duration) {
	t.Helper()
	if err := poll(limit, func() error { return RoundTrip(ns, dst) }); err != nil {
		t.Fatalf("round trip to %s within %v: %v", dst, limit, err)
	}
}

// poll calls f until it returns nil or limit passes, and returns f's last
// error.
func poll(limit time.Duration, f func() error) error {
	deadline := time.Now().Add(limit)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Eventually calls cond until it returns "" or limit passes, then fails the
// test with cond's last complaint.
func Eventually(t testing.TB, limit time.Duration, cond func() string) {
	t.Helper()
	err := poll(limit, func() error {
		if msg := cond(); msg != "" {
			return errors.New(msg)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("not within %v: %v", limit, err)
	}
}
