package cluster

import (
	"context"
	"slices"
	"testing"
	"time"
)

// eventTimeout bounds waiting for one watch event or a channel close.
const eventTimeout = 5 * time.Second

func TestWatchSeesPutsAndDeletes(t *testing.T) {
	t.Parallel()
	kv := startMember(t, "").KV()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := kv.Watch(ctx, "/w/")

	// Written right after Watch returns: Watch must already be registered.
	mustTxn(t, kv, Put("/w/a", []byte("1")))
	mustTxn(t, kv, Put("/outside", []byte("x")), Put("/w", []byte("no slash")))
	mustTxn(t, kv, Delete("/w/a"), Put("/w/b", []byte("2")))
	mustTxn(t, kv, DeletePrefix("/w/"))

	// The third transaction changes two watched keys: one revision, two
	// events, only the second of them the last of its revision.
	want := []Event{
		{Key: "/w/a", Value: []byte("1"), LastOfRevision: true},
		{Key: "/w/a", Deleted: true},
		{Key: "/w/b", Value: []byte("2"), LastOfRevision: true},
		{Key: "/w/b", Deleted: true, LastOfRevision: true},
	}
	var revs []int64
	for i, w := range want {
		got, ok := receive(t, events)
		if !ok {
			t.Fatalf("event %d: channel closed, want %+v", i, w)
		}
		revs = append(revs, got.Revision)
		if got.Key != w.Key || got.Deleted != w.Deleted || !slices.Equal(got.Value, w.Value) || got.LastOfRevision != w.LastOfRevision {
			t.Errorf("event %d: got %+v, want %+v", i, got, w)
		}
		if got.Deleted && got.Value != nil {
			t.Errorf("event %d: got value %q on a delete, want nil", i, got.Value)
		}
	}

	if revs[1] != revs[2] || revs[0] >= revs[1] || revs[2] >= revs[3] {
		t.Errorf("event revisions %v: want increasing, with events 1 and 2 (one transaction) equal", revs)
	}

	cancel()
	for {
		ev, ok := receive(t, events)
		if !ok {
			break
		}
		t.Errorf("after cancel: got %+v, want the channel closed", ev)
	}
}

func TestWatchClosesWhenMemberCloses(t *testing.T) {
	t.Parallel()
	m := startMember(t, "")
	events := m.KV().Watch(context.Background(), "/")
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if ev, ok := receive(t, events); ok {
		t.Errorf("got %+v, want the channel closed", ev)
	}
}

func TestWatchWithEndedContextIsClosed(t *testing.T) {
	t.Parallel()
	kv := startMember(t, "").KV()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if ev, ok := receive(t, kv.Watch(ctx, "/")); ok {
		t.Errorf("got %+v, want the channel closed", ev)
	}
}

// receive returns the next event, or ok false when the channel closed. It
// fails the test when neither happens in time.
func receive(t *testing.T, events <-chan Event) (Event, bool) {
	t.Helper()
	select {
	case ev, ok := <-events:
		return ev, ok
	case <-time.After(eventTimeout):
		t.Fatal("got nothing in time, want an event or a close")
		return Event{}, false
	}
}
