package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// progressEvery spaces the progress lines of a transfer: often enough to
// show it moves, rarely enough not to flood a log.
const progressEvery = time.Second

// errStalled is the cause of a transfer cancelled by its stallGuard.
var errStalled = errors.New("transfer stalled")

// meter counts the bytes of one long transfer and prints its progress.
type meter struct {
	out   io.Writer
	now   func() time.Time
	what  string // line prefix: "backup", "restore"
	total int64  // size when known in advance, for a percentage; else 0

	start   time.Time
	done    int64
	printed time.Time // when the last line was printed
	atPrint int64     // done at that time
}

func newMeter(out io.Writer, now func() time.Time, what string, total int64) *meter {
	t := now()
	return &meter{out: out, now: now, what: what, total: total, start: t, printed: t}
}

// add counts n more bytes and prints a line when the last is progressEvery
// old. The rate is that since the last line, which shows a slowdown at once.
func (m *meter) add(n int) {
	m.done += int64(n)
	t := m.now()
	if t.Sub(m.printed) < progressEvery {
		return
	}
	s := formatBytes(m.done)
	if m.total > 0 {
		s = fmt.Sprintf("%d%% (%s of %s)", m.done*100/m.total, s, formatBytes(m.total))
	}
	fmt.Fprintf(m.out, "%s: %s, %s\n", m.what, s, formatRate(m.done-m.atPrint, t.Sub(m.printed)))
	m.printed, m.atPrint = t, m.done
}

// summary prints the total with the average rate, after verb ("wrote",
// "sent") and before a remark of the caller.
func (m *meter) summary(verb, remark string) {
	elapsed := m.now().Sub(m.start)
	fmt.Fprintf(m.out, "%s: %s %s in %s (%s)%s\n", m.what, verb, formatBytes(m.done), elapsed.Round(100*time.Millisecond),
		formatRate(m.done, elapsed), remark)
}

func formatRate(n int64, d time.Duration) string {
	if d <= 0 {
		return "rate unknown"
	}
	return formatBytes(int64(float64(n)/d.Seconds())) + "/s"
}

// formatBytes writes n in binary units with one decimal: "12.3 MiB".
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// stallGuard cancels a transfer once no byte has moved for its limit. A
// transfer of hundreds of megabytes takes as long as the link needs, so
// --timeout bounds its stalls instead of its duration.
type stallGuard struct {
	cancel context.CancelCauseFunc
	limit  time.Duration // 0: no limit
	timer  *time.Timer
}

// guardStalls returns ctx cancelled with errStalled in its cause when the
// guard's limit passes without a call to moved. stop releases the timer.
func guardStalls(ctx context.Context, limit time.Duration) (context.Context, *stallGuard, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	g := &stallGuard{cancel: cancel, limit: limit}
	g.arm(limit, fmt.Errorf("%w: nothing moved for %s (--timeout)", errStalled, limit))
	return ctx, g, func() {
		if g.timer != nil {
			g.timer.Stop()
		}
		cancel(nil)
	}
}

func (g *stallGuard) arm(d time.Duration, cause error) {
	if g.limit == 0 {
		return
	}
	if g.timer != nil {
		g.timer.Stop()
	}
	g.timer = time.AfterFunc(d, func() { g.cancel(cause) })
}

// moved restarts the limit.
func (g *stallGuard) moved() {
	if g.timer != nil {
		g.timer.Reset(g.limit)
	}
}

// awaitAnswer gives the other side up to d, at least the stall limit, from
// now: for the wait after the last byte, when nothing moves by design.
func (g *stallGuard) awaitAnswer(d time.Duration) {
	d = max(g.limit, d)
	g.arm(d, fmt.Errorf("%w: no answer within %s of the last byte", errStalled, d))
}

// transferError prefers the stall over the cancellation it caused, which
// alone would only say "context canceled".
func transferError(ctx context.Context, what string, err error) error {
	if cause := context.Cause(ctx); errors.Is(cause, errStalled) {
		return fmt.Errorf("%s: %w", what, cause)
	}
	return fmt.Errorf("%s: %w", what, err)
}
