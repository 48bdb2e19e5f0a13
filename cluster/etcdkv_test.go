package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
)

func TestGet(t *testing.T) {
	t.Parallel()
	kv := startMember(t, "").KV()
	binary := []byte{0, 0xff, 'x', 0x80, 0}
	rev := mustTxn(t, kv, Put("/get/binary", binary), Put("/get/empty", nil))

	tests := []struct {
		key     string
		want    Entry
		wantErr error
	}{
		{"/get/binary", Entry{Key: "/get/binary", Value: binary, ModRevision: rev}, nil},
		{"/get/empty", Entry{Key: "/get/empty", ModRevision: rev}, nil},
		{"/get/missing", Entry{}, ErrNotFound},
		{"/get", Entry{}, ErrNotFound}, // a prefix of stored keys is not a key
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			got, err := kv.Get(context.Background(), tt.key)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if got.Key != tt.want.Key || !bytes.Equal(got.Value, tt.want.Value) || got.ModRevision != tt.want.ModRevision {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestList(t *testing.T) {
	t.Parallel()
	kv := startMember(t, "").KV()
	// Written out of order, in two transactions, with neighbours that share
	// part of the prefix.
	mustTxn(t, kv, Put("/l/b", []byte("b")), Put("/l/a/2", []byte("a2")), Put("/lx", []byte("x")))
	mustTxn(t, kv, Put("/l/a/1", []byte("a1")), Put("/m", []byte("m")))

	tests := []struct {
		prefix string
		want   []string
	}{
		{"/l/", []string{"/l/a/1", "/l/a/2", "/l/b"}},
		{"/l/a/", []string{"/l/a/1", "/l/a/2"}},
		{"/l", []string{"/l/a/1", "/l/a/2", "/l/b", "/lx"}},
		{"/none/", nil},
		{"", []string{"/l/a/1", "/l/a/2", "/l/b", "/lx", "/m"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.prefix), func(t *testing.T) {
			entries, err := kv.List(context.Background(), tt.prefix)
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if got := keys(entries); !slices.Equal(got, tt.want) {
				t.Errorf("got keys %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTxn(t *testing.T) {
	t.Parallel()
	kv := startMember(t, "").KV()
	ctx := context.Background()
	tests := []struct {
		name string
		// conds and ops get the case's prefix; conds may use revSeed, the
		// revision of the seed write of "/k" (and "/j", "/d/*").
		conds   func(revSeed int64) []Cond
		ops     []Op
		wantErr error
		want    map[string]string // some of the case's keys afterwards; "" means absent
	}{
		{"put without conditions", nil,
			[]Op{Put("/new", []byte("n"))}, nil,
			map[string]string{"/new": "n"}},
		{"absent holds", func(int64) []Cond { return []Cond{Absent("/new")} },
			[]Op{Put("/new", []byte("n"))}, nil,
			map[string]string{"/new": "n"}},
		{"absent fails", func(int64) []Cond { return []Cond{Absent("/k")} },
			[]Op{Put("/k", []byte("changed")), Put("/other", []byte("o"))}, ErrConflict,
			nil},
		{"unchanged holds", func(rev int64) []Cond { return []Cond{Unchanged("/k", rev)} },
			[]Op{Put("/k", []byte("k2"))}, nil,
			map[string]string{"/k": "k2"}},
		{"unchanged fails on stale revision", func(rev int64) []Cond { return []Cond{Unchanged("/k", rev-1)} },
			[]Op{Delete("/k")}, ErrConflict,
			nil},
		{"unchanged fails on missing key", func(rev int64) []Cond { return []Cond{Unchanged("/nokey", rev)} },
			[]Op{Put("/nokey", []byte("n"))}, ErrConflict,
			nil},
		{"one failing condition of two", func(rev int64) []Cond { return []Cond{Unchanged("/k", rev), Absent("/j")} },
			[]Op{Delete("/k")}, ErrConflict,
			nil},
		{"delete", func(rev int64) []Cond { return []Cond{Unchanged("/j", rev)} },
			[]Op{Delete("/j"), Delete("/never-existed")}, nil,
			map[string]string{"/j": ""}},
		{"delete prefix", nil,
			[]Op{DeletePrefix("/d/")}, nil,
			map[string]string{"/d/1": "", "/d/2": "", "/dx": "dx", "/k": "k"}},
		{"mixed ops on distinct keys", func(rev int64) []Cond { return []Cond{Unchanged("/k", rev), Absent("/new")} },
			[]Op{Put("/k", []byte("k2")), Put("/new", []byte("n")), Delete("/j"), DeletePrefix("/d/")}, nil,
			map[string]string{"/k": "k2", "/new": "n", "/j": "", "/d/1": "", "/dx": "dx"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := fmt.Sprintf("/txn/%d", i)
			seed := []Op{Put(p+"/k", []byte("k")), Put(p+"/j", []byte("j")),
				Put(p+"/d/1", []byte("d1")), Put(p+"/d/2", []byte("d2")), Put(p+"/dx", []byte("dx"))}
			revSeed := mustTxn(t, kv, seed...)
			before := snapshot(t, kv, p)

			var conds []Cond
			if tt.conds != nil {
				conds = prefixed(p, tt.conds(revSeed))
			}
			rev, err := kv.Txn(ctx, conds, prefixedOps(p, tt.ops))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			after := snapshot(t, kv, p)
			if tt.wantErr != nil {
				if !maps.Equal(after, before) {
					t.Errorf("after failed Txn: got %v, want unchanged %v", after, before)
				}
				return
			}
			if rev <= revSeed {
				t.Errorf("revision: got %d, want more than the seed's %d", rev, revSeed)
			}
			for k, want := range tt.want {
				if got := after[p+k]; got != want {
					t.Errorf("%s: got %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestTxnRevisionIsModRevision(t *testing.T) {
	t.Parallel()
	kv := startMember(t, "").KV()
	rev := mustTxn(t, kv, Put("/r", []byte("1")))
	got, err := kv.Get(context.Background(), "/r")
	if err != nil {
		t.Fatal(err)
	}
	if got.ModRevision != rev {
		t.Errorf("ModRevision: got %d, want the Txn's %d", got.ModRevision, rev)
	}
	// The returned revision is what the next conditional write names.
	if _, err := kv.Txn(context.Background(), []Cond{Unchanged("/r", rev)}, []Op{Put("/r", []byte("2"))}); err != nil {
		t.Errorf("Txn on the returned revision: %v", err)
	}
}

func TestTxnRejectsBadOps(t *testing.T) {
	t.Parallel()
	kv := startMember(t, "").KV()
	tests := []struct {
		name string
		ops  func(p string) []Op // p is the case's key prefix
	}{
		{"unknown kind", func(p string) []Op { return []Op{Put(p+"/ok", []byte("x")), {Kind: 99, Key: p + "/bad"}} }},
		{"two puts of one key", func(p string) []Op { return []Op{Put(p+"/k", []byte("1")), Put(p+"/k", []byte("2"))} }},
		{"delete then put one key", func(p string) []Op { return []Op{Delete(p + "/k"), Put(p+"/k", []byte("again"))} }},
		{"put inside a deleted prefix", func(p string) []Op { return []Op{DeletePrefix(p + "/d/"), Put(p+"/d/1", []byte("new"))} }},
		{"empty key", func(p string) []Op { return []Op{Put(p+"/ok", []byte("x")), Put("", []byte("x"))} }},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := fmt.Sprintf("/bad/%d", i)
			mustTxn(t, kv, Put(p+"/d/1", []byte("d1")))
			before := snapshot(t, kv, p)
			_, err := kv.Txn(context.Background(), nil, tt.ops(p))
			if err == nil || errors.Is(err, ErrConflict) || errors.Is(err, ErrUnavailable) {
				t.Fatalf("got %v, want an error that is neither ErrConflict nor ErrUnavailable", err)
			}
			if after := snapshot(t, kv, p); !maps.Equal(after, before) {
				t.Errorf("after rejected Txn: got %v, want unchanged %v", after, before)
			}
		})
	}
}

func TestCallerCancellationIsNotUnavailability(t *testing.T) {
	t.Parallel()
	kv := startMember(t, "").KV()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := kv.Get(ctx, "/c")
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnavailable) {
		t.Errorf("got %v, want context.Canceled and not ErrUnavailable", err)
	}
}

func TestKVAfterCloseIsUnavailable(t *testing.T) {
	t.Parallel()
	m := startMember(t, "")
	kv := m.KV()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, getErr := kv.Get(ctx, "/k")
	_, listErr := kv.List(ctx, "/")
	_, txnErr := kv.Txn(ctx, nil, []Op{Put("/k", nil)})
	for name, err := range map[string]error{"Get": getErr, "List": listErr, "Txn": txnErr} {
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s: got %v, want ErrUnavailable", name, err)
		}
	}
	if _, open := <-kv.Watch(ctx, "/"); open {
		t.Error("Watch: got an event, want a closed channel")
	}
}

func keys(entries []Entry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.Key)
	}
	return out
}

// snapshot returns the keys and values under prefix.
func snapshot(t *testing.T, kv KV, prefix string) map[string]string {
	t.Helper()
	entries, err := kv.List(context.Background(), prefix)
	if err != nil {
		t.Fatalf("List %q: %v", prefix, err)
	}
	out := map[string]string{}
	for _, e := range entries {
		out[e.Key] = string(e.Value)
	}
	return out
}

func prefixed(p string, conds []Cond) []Cond {
	out := make([]Cond, len(conds))
	for i, c := range conds {
		out[i] = Cond{Key: p + c.Key, ModRevision: c.ModRevision}
	}
	return out
}

func prefixedOps(p string, ops []Op) []Op {
	out := make([]Op, len(ops))
	for i, op := range ops {
		out[i] = Op{Kind: op.Kind, Key: p + op.Key, Value: op.Value}
	}
	return out
}

func TestScan(t *testing.T) {
	t.Parallel()
	kv := startMember(t, "").KV()
	var want []string
	for i := range 25 {
		k := fmt.Sprintf("/s/%02d", i)
		mustTxn(t, kv, Put(k, []byte(k)))
		want = append(want, k)
	}
	mustTxn(t, kv, Put("/sx", []byte("outside")), Put("/r", []byte("outside")))
	ctx := context.Background()

	for _, page := range []int{1, 4, 25, 100} {
		t.Run(fmt.Sprintf("page %d", page), func(t *testing.T) {
			var got []string
			added := false
			rev, err := kv.Scan(ctx, "/s/", 0, page, func(e Entry) error {
				if string(e.Value) != e.Key {
					t.Errorf("entry %q has value %q", e.Key, e.Value)
				}
				got = append(got, e.Key)
				if !added { // written during the scan: not in its snapshot
					added = true
					late := fmt.Sprintf("/s/%02d-late-%d", 30, page)
					mustTxn(t, kv, Put(late, []byte(late)))
				}
				return nil
			})
			if err != nil {
				t.Fatalf("Scan: %v", err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("got keys %q, want %q", got, want)
			}
			if now, _ := kv.Revision(ctx); rev >= now {
				t.Errorf("scan revision %d, want before the write made during it (now %d)", rev, now)
			}
		})
		want = append(want, fmt.Sprintf("/s/%02d-late-%d", 30, page))
		slices.Sort(want)
	}

	// At a given revision: the store as it was then.
	var atFirst []string
	first, _ := kv.Scan(ctx, "/s/00", 0, 10, func(Entry) error { return nil })
	mustTxn(t, kv, Put("/s/00-after", []byte("/s/00-after")))
	if _, err := kv.Scan(ctx, "/s/00", first, 10, func(e Entry) error { atFirst = append(atFirst, e.Key); return nil }); err != nil || len(atFirst) != 1 {
		t.Errorf("Scan at revision %d: %q, %v; want only /s/00", first, atFirst, err)
	}

	stop := errors.New("stop")
	n := 0
	if _, err := kv.Scan(ctx, "/s/", 0, 3, func(Entry) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("Scan with a failing fn: err %v after %d entries, want %v after 1", err, n, stop)
	}
	if _, err := kv.Scan(ctx, "/s/", 0, 0, func(Entry) error { return nil }); err == nil {
		t.Error("Scan with page 0 succeeded")
	}
}
