package keystore_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"testing"

	"github.com/keywarden/keywarden/appliance/keyring"
	"github.com/keywarden/keywarden/appliance/keystore"
	"github.com/keywarden/keywarden/cluster"
	"github.com/keywarden/keywarden/cluster/clustertest"
)

func TestCreateGetDelete(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	in := mustCreate(t, s, "", "k1")
	got := mustGet(t, s, "", "k1")
	if got.ID != "k1" || got.Namespace != "" || got.Label != in.Label || !slices.Equal(got.Tags, in.Tags) || !sameKey(got.Key, in.Key) {
		t.Errorf("got %s/%s label %q tags %v, want the created record", got.Namespace, got.ID, got.Label, got.Tags)
	}
	if err := s.Create(ctx, &keystore.Record{ID: "k1", Key: newKey(t)}); !errors.Is(err, keystore.ErrExists) {
		t.Errorf("second Create: got %v, want ErrExists", err)
	}
	if got := mustGet(t, s, "", "k1"); !sameKey(got.Key, in.Key) {
		t.Errorf("the failed Create replaced the key")
	}
	wantNotFound(t, s, "", "missing")
	if err := s.Delete(ctx, "", "k1"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantNotFound(t, s, "", "k1")
	if err := s.Delete(ctx, "", "k1"); !errors.Is(err, keystore.ErrNotFound) {
		t.Errorf("second Delete: got %v, want ErrNotFound", err)
	}
}

func TestStoredEncrypted(t *testing.T) {
	s, v := newStore(t)
	r := mustCreate(t, s, "", "k1")
	raw, err := v.KV().Get(context.Background(), keystore.KeyPath("", "k1"))
	if err != nil {
		t.Fatalf("raw Get: %v", err)
	}
	material, err := r.Key.MarshalBinary()
	if err != nil {
		t.Fatalf("MarshalBinary: %v", err)
	}
	// The record is JSON, so the material would appear base64-encoded.
	plaintexts := map[string][]byte{
		"material":       []byte(base64.StdEncoding.EncodeToString(material[:30])),
		"material field": []byte(`"material"`),
		"label":          []byte(r.Label),
	}
	for name, plain := range plaintexts {
		if bytes.Contains(raw.Value, plain) {
			t.Errorf("etcd holds the %s in plaintext", name)
		}
	}
}

func TestList(t *testing.T) {
	s, _ := newStore(t)
	for _, id := range []string{"beta", "alpine", "alpha"} {
		mustCreate(t, s, "", id)
	}
	mustCreate(t, s, "ns1", "alpaca")
	tests := []struct {
		ns, prefix string
		want       []string
	}{
		{"", "", []string{"alpha", "alpine", "beta"}},
		{"", "al", []string{"alpha", "alpine"}},
		{"", "alpha", []string{"alpha"}},
		{"", "gamma", nil},
		{"ns1", "", []string{"alpaca"}},
		{"ns2", "", nil},
	}
	for _, tt := range tests {
		got, err := s.List(context.Background(), tt.ns, tt.prefix)
		if err != nil {
			t.Fatalf("List(%q, %q): %v", tt.ns, tt.prefix, err)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("List(%q, %q): got %v, want %v", tt.ns, tt.prefix, got, tt.want)
		}
	}
}

func TestUpdate(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	mustCreate(t, s, "", "k1")
	changed, err := s.Update(ctx, "", "k1", func(r *keystore.Record) (bool, error) {
		r.Label = "new label"
		r.Tags = append(r.Tags, "t2")
		return true, nil
	})
	if err != nil || !changed {
		t.Fatalf("Update: got (%v, %v), want (true, nil)", changed, err)
	}
	got := mustGet(t, s, "", "k1")
	if got.Label != "new label" || !slices.Equal(got.Tags, []string{"t1", "t2"}) {
		t.Errorf("got label %q tags %v, want \"new label\" [t1 t2]", got.Label, got.Tags)
	}

	errAbort := errors.New("abort")
	tests := []struct {
		name    string
		changed bool
		err     error
	}{
		{"no change", false, nil},
		{"aborted", true, errAbort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			changed, err := s.Update(ctx, "", "k1", func(r *keystore.Record) (bool, error) {
				r.Label = "discarded"
				r.Tags[0] = "discarded" // must not leak into the cached record
				return tt.changed, tt.err
			})
			if changed || !errors.Is(err, tt.err) {
				t.Errorf("got (%v, %v), want (false, %v)", changed, err, tt.err)
			}
			got := mustGet(t, s, "", "k1")
			if got.Label != "new label" || !slices.Equal(got.Tags, []string{"t1", "t2"}) {
				t.Errorf("got label %q tags %v, want them unchanged", got.Label, got.Tags)
			}
		})
	}
	if _, err := s.Update(ctx, "", "missing", func(*keystore.Record) (bool, error) { return true, nil }); !errors.Is(err, keystore.ErrNotFound) {
		t.Errorf("Update of a missing key: got %v, want ErrNotFound", err)
	}
}

func TestNamespacesIsolate(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	root := mustCreate(t, s, "", "k")
	ns1 := mustCreate(t, s, "ns1", "k")
	if sameKey(root.Key, ns1.Key) {
		t.Fatalf("test keys are equal")
	}
	for _, tt := range []struct {
		ns   string
		want *keystore.Record
	}{{"", root}, {"ns1", ns1}} {
		got := mustGet(t, s, tt.ns, "k")
		if got.Namespace != tt.ns || !sameKey(got.Key, tt.want.Key) {
			t.Errorf("Get(%q, k): got namespace %q or another key", tt.ns, got.Namespace)
		}
	}
	wantNotFound(t, s, "ns2", "k")
	if err := s.Delete(ctx, "ns1", "k"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantNotFound(t, s, "ns1", "k")
	if got := mustGet(t, s, "", "k"); !sameKey(got.Key, root.Key) {
		t.Errorf("deleting ns1/k changed the root key")
	}
}

func TestNamespaceOps(t *testing.T) {
	s, v := newStore(t)
	ctx := context.Background()
	for _, ns := range []string{"", "a", "ab"} {
		mustCreate(t, s, ns, "k")
		if err := s.PutCert(ctx, ns, "k", []byte("cert of "+ns)); err != nil {
			t.Fatalf("PutCert(%q): %v", ns, err)
		}
	}
	if _, err := v.Txn(ctx, nil, keystore.NamespaceOps("a")...); err != nil {
		t.Fatalf("Txn: %v", err)
	}
	s.Invalidate("") // the store watch does this on the deletions
	wantNotFound(t, s, "a", "k")
	certs, err := v.KV().List(ctx, keystore.CertPrefix)
	if err != nil {
		t.Fatalf("List certs: %v", err)
	}
	if len(certs) != 2 {
		t.Errorf("got %d certificates left, want 2 (root and ab)", len(certs))
	}
	for _, ns := range []string{"", "ab"} {
		if cert, err := s.Cert(ctx, ns, "k"); err != nil || string(cert) != "cert of "+ns {
			t.Errorf("Cert(%q): got (%q, %v), want it untouched", ns, cert, err)
		}
	}
}

// TestCacheInvalidation runs two Stores over one store, as two appliances of a
// cluster: a node serves keys from its cache and sees another node's writes
// once Invalidate (called by the store watch) drops them.
func TestCacheInvalidation(t *testing.T) {
	kv := clustertest.Start(t)
	domain := keyring.NewKey()
	a, _ := node(t, kv, domain)
	b, _ := node(t, kv, domain)
	ctx := context.Background()
	mustCreate(t, a, "", "k1")

	first := mustGet(t, b, "", "k1")
	if again := mustGet(t, b, "", "k1"); again != first {
		t.Errorf("second Get returned another record, want the cached one")
	}
	if err := a.Delete(ctx, "", "k1"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	b.Invalidate(keystore.KeyPath("", "k1"))
	wantNotFound(t, b, "", "k1")

	re := mustCreate(t, a, "", "k1")
	b.Invalidate("")
	if got := mustGet(t, b, "", "k1"); !sameKey(got.Key, re.Key) {
		t.Errorf("the other node got the old key after Invalidate")
	}
	if _, err := kv.Get(ctx, keystore.KeyPath("", "k1")); errors.Is(err, cluster.ErrNotFound) {
		t.Errorf("the key vanished from the store")
	}
}

func TestOperations(t *testing.T) {
	kv := clustertest.Start(t)
	domain := keyring.NewKey()
	a, _ := node(t, kv, domain)
	b, _ := node(t, kv, domain)
	mustCreate(t, a, "", "k1")
	r := mustGet(t, a, "", "k1")
	for range 3 {
		r.CountOperation()
	}
	if got := r.Operations(); got != 3 {
		t.Errorf("got %d operations, want 3", got)
	}
	a.Invalidate("")
	if got := mustGet(t, a, "", "k1").Operations(); got != 3 {
		t.Errorf("got %d operations after Invalidate, want 3 (counters outlive the cache)", got)
	}
	if got := mustGet(t, b, "", "k1").Operations(); got != 0 {
		t.Errorf("got %d operations on the other node, want 0 (counters are per node)", got)
	}
	var zero keystore.Record
	zero.CountOperation()
	if got := zero.Operations(); got != 0 {
		t.Errorf("got %d operations on a record not from a Store, want 0", got)
	}
}
