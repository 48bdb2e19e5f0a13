package tlsconf_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/keywarden/keywarden/appliance/tlsconf"
)

// TestExternalKeyIsNeverSerialised: an identity whose key lives in an HSM
// stores only the key's reference; loading it asks the resolver for the key.
func TestExternalKeyIsNeverSerialised(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := tlsconf.GenerateExternal(key, "tls", []string{"hsm.example"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := id.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("PRIVATE KEY")) {
		t.Fatalf("an external identity serialised a private key:\n%s", b)
	}
	var plain tlsconf.Identity
	if err := plain.UnmarshalBinary(b); !errors.Is(err, tlsconf.ErrMalformed) {
		t.Fatalf("UnmarshalBinary without a resolver: got %v, want ErrMalformed", err)
	}
	var got tlsconf.Identity
	var asked string
	err = got.UnmarshalResolve(b, func(ref string) (crypto.Signer, error) { asked = ref; return key, nil })
	if err != nil || asked != "tls" || got.External() != "tls" {
		t.Fatalf("UnmarshalResolve: got %v, asked %q, ref %q; want the key for \"tls\"", err, asked, got.External())
	}
	if !bytes.Equal(got.PublicPEM(), id.PublicPEM()) {
		t.Fatal("the resolved identity has another public key")
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err := new(tlsconf.Identity).UnmarshalResolve(b, func(string) (crypto.Signer, error) { return other, nil }); !errors.Is(err, tlsconf.ErrKeyMismatch) {
		t.Fatalf("resolver returning another key: got %v, want ErrKeyMismatch", err)
	}
}
