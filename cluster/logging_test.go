package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"go.uber.org/zap"
)

func TestLogRingKeepsTheLatest(t *testing.T) {
	tests := []struct {
		added     int
		wantFirst int // index of the oldest record kept
	}{
		{0, 0},
		{1, 0},
		{recentLogSize, 0},
		{recentLogSize + 1, 1},
		{3*recentLogSize + 7, 2*recentLogSize + 7},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.added), func(t *testing.T) {
			var r logRing
			for i := range tt.added {
				r.add(LogRecord{Msg: fmt.Sprint(i)})
			}
			got := r.records()
			if want := tt.added - tt.wantFirst; len(got) != want {
				t.Fatalf("got %d records, want %d", len(got), want)
			}
			for i, rec := range got {
				if want := fmt.Sprint(tt.wantFirst + i); rec.Msg != want {
					t.Fatalf("record %d: got %q, want %q", i, rec.Msg, want)
				}
			}
		})
	}
}

func TestEtcdLogsReachSlogAtWarnAndAbove(t *testing.T) {
	var out bytes.Buffer
	sink := &logSink{log: slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	lg := sink.zapLogger("etcd").With(zap.String("member", "m1"))

	lg.Info("applied entries")
	lg.Debug("tick")
	lg.Warn("slow fdatasync", zap.Duration("took", 1500000000))
	lg.Error("lost leader", zap.Error(errors.New("connection reset")))
	lg.Warn("simple token is not cryptographically signed")
	lg.Error("failed to update storage version", zap.Error(errors.New("cannot detect storage schema version: missing term information")))
	sink.quiet.Store(true)
	lg.Error("setting up serving from embedded etcd failed.", zap.Error(errors.New("http: Server closed")))

	logged := out.String()
	for _, want := range []string{
		`level=WARN msg="slow fdatasync" component=etcd member=m1 took=1.5s`,
		`level=ERROR msg="lost leader" component=etcd error="connection reset" member=m1`,
		`level=DEBUG msg="simple token is not cryptographically signed"`,
		`level=DEBUG msg="failed to update storage version"`,
		`level=DEBUG msg="setting up serving from embedded etcd failed."`,
	} {
		if !strings.Contains(logged, want) {
			t.Errorf("slog output: got\n%s\nwant a line containing %s", logged, want)
		}
	}
	for _, unwanted := range []string{"applied entries", "tick"} {
		if strings.Contains(logged, unwanted) {
			t.Errorf("slog output: got %q, want info and debug records dropped", unwanted)
		}
	}

	got := sink.ring.records()
	want := []LogRecord{
		{Level: slog.LevelWarn, Msg: "slow fdatasync"},
		{Level: slog.LevelError, Msg: "lost leader: connection reset"},
	}
	if len(got) != len(want) {
		t.Fatalf("RecentLogs: got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].Level != want[i].Level || got[i].Msg != want[i].Msg || got[i].Time.IsZero() {
			t.Errorf("RecentLogs[%d]: got %+v, want %+v with a time", i, got[i], want[i])
		}
	}
}
