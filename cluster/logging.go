package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// recentLogSize is how many etcd warnings and errors RecentLogs keeps: enough to
// see what led up to a failure, small enough to return in a diagnose report.
const recentLogSize = 50

// LogRecord is one warning or error etcd logged.
type LogRecord struct {
	Time  time.Time
	Level slog.Level
	Msg   string // the message, followed by its "error" field when it has one
}

// logRing keeps the last recentLogSize records, oldest overwritten first.
type logRing struct {
	mu   sync.Mutex
	buf  [recentLogSize]LogRecord
	next int // index the next record goes to
	full bool
}

func (r *logRing) add(rec LogRecord) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf[r.next] = rec
	r.next = (r.next + 1) % len(r.buf)
	if r.next == 0 {
		r.full = true
	}
}

// records returns a copy of the kept records, oldest first.
func (r *logRing) records() []LogRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return append([]LogRecord(nil), r.buf[:r.next]...)
	}
	return append(append([]LogRecord(nil), r.buf[r.next:]...), r.buf[:r.next]...)
}

// noiseMessages are etcd warnings that say nothing about this appliance and
// would otherwise fill RecentLogs at every start.
var noiseMessages = map[string]bool{
	// The only client endpoint is the daemon's private socket; a second
	// socket just for HTTP would add a way in and no benefit.
	"Running http and grpc server on single port. This is not recommended for production.": true,
	// etcd authentication is off: the socket itself is the access control,
	// so no token is ever issued.
	"simple token is not cryptographically signed": true,
	// The client logs every failed call; the error goes back to the caller,
	// which decides whether it is worth logging.
	"retrying of unary invoker failed": true,
	// Membership changes etcd refuses until the cluster has settled, and
	// that Member retries; if the refusal lasts, the caller gets the error.
	"rejecting promote learner: learner is not ready":                                                                       true,
	"rejecting member add request; local member has not been connected to majority peers, reconfigure breaks active quorum": true,
	"rejecting member remove request; local member has not been connected to all peers, reconfigure breaks active quorum":   true,
}

// noiseErrors are errors etcd logs that are known to pass by themselves.
var noiseErrors = []string{
	// etcd's storage version monitor reports this when it runs before a
	// fresh member has persisted its first term; it succeeds on its next
	// round (etcd-io/etcd#18978).
	"missing term information",
	// Each refused attempt of a promotion that Member.Promote retries until
	// the learner has caught up, logged by the member that forwarded it.
	"can only promote a learner member which is in sync with leader",
}

// isNoise reports whether an etcd record is known to be harmless here.
func isNoise(msg string, fields map[string]any) bool {
	if noiseMessages[msg] {
		return true
	}
	errText, _ := fields["error"].(string)
	return errText != "" && slices.ContainsFunc(noiseErrors, func(e string) bool { return strings.Contains(errText, e) })
}

// logSink is where one member's etcd logs go: the injected logger and the ring
// behind RecentLogs.
type logSink struct {
	log  *slog.Logger
	ring logRing
	// quiet is set while the member stops: etcd then reports every closed
	// listener and server as an error, which is expected and only worth a
	// debug line.
	quiet atomic.Bool
}

// zapLogger returns a zap logger for etcd's server or client that writes to s,
// naming component in every record.
func (s *logSink) zapLogger(component string) *zap.Logger {
	return zap.New(&slogCore{sink: s, log: s.log.With(slog.String("component", component))})
}

// slogCore is a zapcore.Core that forwards etcd's warnings and errors to a
// logSink. Lower levels are dropped: etcd logs several info lines per request
// cycle and the appliance log is for operators.
type slogCore struct {
	sink   *logSink
	log    *slog.Logger
	fields []zapcore.Field // accumulated by With
}

func (c *slogCore) Enabled(l zapcore.Level) bool { return l >= zapcore.WarnLevel }

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	all := append(append([]zapcore.Field(nil), c.fields...), fields...)
	return &slogCore{sink: c.sink, log: c.log, fields: all}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	// Noise and the errors of a deliberate stop stay available at debug
	// level but do not reach the operator or RecentLogs.
	level := slogLevel(e.Level)
	if c.sink.quiet.Load() || isNoise(e.Message, enc.Fields) {
		level = slog.LevelDebug
	}
	c.log.LogAttrs(context.Background(), level, e.Message, attrs(enc.Fields)...)
	if level < slog.LevelWarn {
		return nil
	}
	msg := e.Message
	if errText, ok := enc.Fields["error"]; ok {
		msg = fmt.Sprintf("%s: %v", msg, errText)
	}
	c.sink.ring.add(LogRecord{Time: e.Time, Level: level, Msg: msg})
	return nil
}

func (c *slogCore) Sync() error { return nil }

// slogLevel maps zap levels at warn and above; DPanic, Panic and Fatal are
// errors to slog (zap itself still panics or exits after writing).
func slogLevel(l zapcore.Level) slog.Level {
	if l == zapcore.WarnLevel {
		return slog.LevelWarn
	}
	return slog.LevelError
}

// attrs turns encoded zap fields into slog attributes in key order, so the
// output is stable.
func attrs(fields map[string]any) []slog.Attr {
	out := make([]slog.Attr, 0, len(fields))
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		out = append(out, slog.Any(k, fields[k]))
	}
	return out
}
