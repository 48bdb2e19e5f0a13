package logfwd

import (
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// blockedWriter stands in for a network that does not drain: UDP sends on
// loopback never block, so the queue bound cannot be reached through a real
// socket. The first write signals entered and waits for release.
type blockedWriter struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	got     []string
}

func (w *blockedWriter) write(_ netip.AddrPort, b []byte) error {
	w.once.Do(func() { close(w.entered) })
	<-w.release
	w.mu.Lock()
	defer w.mu.Unlock()
	w.got = append(w.got, string(b))
	return nil
}

func (w *blockedWriter) close() error { return nil }

func TestFullQueueDropsAndCounts(t *testing.T) {
	const queue, extra = 2, 5
	w := &blockedWriter{entered: make(chan struct{}), release: make(chan struct{})}
	h := newHandler(nil, "h", "a", queue, w)
	if err := h.SetConfig(Config{IPAddress: "192.0.2.1", Port: 514, LogLevel: "info"}); err != nil {
		t.Fatal(err)
	}
	l := slog.New(h)
	l.Info("in the sender")
	select {
	case <-w.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the sender never took the first record")
	}

	logged := make(chan struct{})
	go func() {
		defer close(logged)
		for range queue + extra {
			l.Info("more")
		}
	}()
	select {
	case <-logged:
	case <-time.After(5 * time.Second):
		t.Fatal("logging blocked behind a stuck sender")
	}
	if got := h.Dropped(); got != extra {
		t.Errorf("Dropped: got %d, want %d (queue %d, sender holding 1)", got, extra, queue)
	}

	close(w.release)
	if err := h.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := len(w.got); got != 1+queue {
		t.Errorf("sent: got %d records, want %d (the held one and the queued ones)", got, 1+queue)
	}
}
