package keystore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/keywarden/keywarden/appliance/keystore"
)

func TestCerts(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	mustCreate(t, s, "", "k1")
	cert := []byte("-----BEGIN CERTIFICATE-----\nnot parsed\n-----END CERTIFICATE-----\n")

	if _, err := s.Cert(ctx, "", "k1"); !errors.Is(err, keystore.ErrNotFound) {
		t.Errorf("Cert before PutCert: got %v, want ErrNotFound", err)
	}
	if err := s.PutCert(ctx, "", "k1", cert); err != nil {
		t.Fatalf("PutCert: %v", err)
	}
	if got, err := s.Cert(ctx, "", "k1"); err != nil || string(got) != string(cert) {
		t.Errorf("Cert: got (%q, %v), want the stored bytes", got, err)
	}
	if err := s.PutCert(ctx, "", "k1", []byte("other")); !errors.Is(err, keystore.ErrExists) {
		t.Errorf("second PutCert: got %v, want ErrExists", err)
	}
	if got, _ := s.Cert(ctx, "", "k1"); string(got) != string(cert) {
		t.Errorf("the failed PutCert replaced the certificate with %q", got)
	}
	if err := s.DeleteCert(ctx, "", "k1"); err != nil {
		t.Fatalf("DeleteCert: %v", err)
	}
	if _, err := s.Cert(ctx, "", "k1"); !errors.Is(err, keystore.ErrNotFound) {
		t.Errorf("Cert after DeleteCert: got %v, want ErrNotFound", err)
	}
	if err := s.DeleteCert(ctx, "", "k1"); !errors.Is(err, keystore.ErrNotFound) {
		t.Errorf("second DeleteCert: got %v, want ErrNotFound", err)
	}
	mustGet(t, s, "", "k1") // deleting the certificate keeps the key
	if err := s.PutCert(ctx, "", "missing", cert); !errors.Is(err, keystore.ErrNotFound) {
		t.Errorf("PutCert on a missing key: got %v, want ErrNotFound", err)
	}
}

// TestDeleteRemovesCert checks that a key's certificate goes with it, so a new
// key with the same ID does not inherit it.
func TestDeleteRemovesCert(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	mustCreate(t, s, "", "k1")
	if err := s.PutCert(ctx, "", "k1", []byte("cert")); err != nil {
		t.Fatalf("PutCert: %v", err)
	}
	if err := s.Delete(ctx, "", "k1"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	mustCreate(t, s, "", "k1")
	if got, err := s.Cert(ctx, "", "k1"); !errors.Is(err, keystore.ErrNotFound) {
		t.Errorf("Cert of the re-created key: got (%q, %v), want ErrNotFound", got, err)
	}
}

func TestMove(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	src := mustCreate(t, s, "", "src")
	if err := s.PutCert(ctx, "", "src", []byte("cert")); err != nil {
		t.Fatalf("PutCert: %v", err)
	}
	if err := s.Move(ctx, "", "src", "dst"); err != nil {
		t.Fatalf("Move: %v", err)
	}
	wantNotFound(t, s, "", "src")
	got := mustGet(t, s, "", "dst")
	if got.ID != "dst" || got.Label != src.Label || !sameKey(got.Key, src.Key) {
		t.Errorf("got %s label %q, want the moved key", got.ID, got.Label)
	}
	if cert, err := s.Cert(ctx, "", "dst"); err != nil || string(cert) != "cert" {
		t.Errorf("Cert of the moved key: got (%q, %v), want \"cert\"", cert, err)
	}

	other := mustCreate(t, s, "", "other")
	tests := []struct {
		name, from, to string
		want           error
	}{
		{"onto an existing key", "dst", "other", keystore.ErrExists},
		{"onto itself", "dst", "dst", keystore.ErrExists},
		{"missing source", "src", "new", keystore.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.Move(ctx, "", tt.from, tt.to); !errors.Is(err, tt.want) {
				t.Errorf("Move(%s, %s): got %v, want %v", tt.from, tt.to, err, tt.want)
			}
			if got := mustGet(t, s, "", "dst"); !sameKey(got.Key, src.Key) {
				t.Errorf("the failed move changed dst")
			}
			if got := mustGet(t, s, "", "other"); !sameKey(got.Key, other.Key) {
				t.Errorf("the failed move changed other")
			}
		})
	}
}
