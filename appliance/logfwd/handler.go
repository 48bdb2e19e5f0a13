package logfwd

import (
	"context"
	"log/slog"
	"os"
	"slices"
)

// Handler is a slog.Handler that passes records to the next handler (the
// daemon's own log) and, while forwarding is configured, also queues records
// at or above the configured level for sending as RFC 5424 messages over UDP.
//
// Handlers derived with WithAttrs and WithGroup share the configuration,
// queue and counter of the one NewHandler returned, so SetConfig takes effect
// for every logger without rebuilding any. It is safe for concurrent use.
type Handler struct {
	next   slog.Handler
	fwd    *forwarder
	params []string // rendered SD-PARAMs from WithAttrs; never appended in place
	prefix string   // groups opened by WithGroup, as "a.b."
}

// NewHandler returns a Handler in front of next with forwarding off
// (DefaultConfig). hostname and appName fill the RFC 5424 header; they are
// cut to 255 and 48 octets of printable US-ASCII. A nil next discards. It
// starts nothing: the sender goroutine starts when SetConfig first turns
// forwarding on, and Close stops it.
func NewHandler(next slog.Handler, hostname, appName string) *Handler {
	return newHandler(next, hostname, appName, queueLen, &udpWriter{})
}

// newHandler is NewHandler with the queue length and writer chosen, so tests
// can fill a tiny queue behind a writer that blocks.
func newHandler(next slog.Handler, hostname, appName string, queue int, out writer) *Handler {
	if next == nil {
		next = slog.DiscardHandler
	}
	tail := headerTail(hostname, appName, os.Getpid())
	return &Handler{next: next, fwd: newForwarder(tail, queue, out)}
}

// SetConfig validates c and makes it the configuration at once, for records
// logged from now on. It returns an error wrapping ErrInvalid, leaving the
// configuration as it was, or ErrClosed after Close.
func (h *Handler) SetConfig(c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	return h.fwd.set(c)
}

// Config returns the configuration last set, DefaultConfig before the first
// SetConfig.
func (h *Handler) Config() Config { return h.fwd.config() }

// Dropped returns how many records were not forwarded because the queue was
// full or the send failed (for example, no route to the collector). Records
// lost on the network after a successful send are not seen.
func (h *Handler) Dropped() uint64 { return h.fwd.dropped.Load() }

// Close turns forwarding off, sends what is already queued and stops the
// sender goroutine. Records logged afterwards still reach the next handler.
// Close is idempotent and leaves the next handler open, since it does not own
// it.
func (h *Handler) Close() error { return h.fwd.close() }

// Enabled reports whether the next handler or the forwarder wants level l.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool {
	if t := h.fwd.target.Load(); t != nil && l >= t.level {
		return true
	}
	return h.next.Enabled(ctx, l)
}

// Handle queues r for forwarding when its level is high enough, then passes
// it to the next handler if that handler is enabled for r's level: Enabled
// may have said yes for the forwarder's sake alone, and the next handler's
// own level must still hold. Only the next handler's error is returned; a
// forwarding failure shows in Dropped.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if t := h.fwd.target.Load(); t != nil && r.Level >= t.level {
		h.fwd.enqueue(packet{dst: t.addr, data: format(r, h.fwd.tail, h.params, h.prefix)})
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs returns a Handler whose records carry attrs, rendered now, as
// the next handler's WithAttrs does.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	h2 := *h
	h2.next = h.next.WithAttrs(attrs)
	h2.params = slices.Clip(h.params)
	for _, a := range attrs {
		h2.params = appendParams(h2.params, h.prefix, a)
	}
	return &h2
}

// WithGroup returns a Handler that qualifies later attributes with name.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.next = h.next.WithGroup(name)
	h2.prefix = h.prefix + name + "."
	return &h2
}
