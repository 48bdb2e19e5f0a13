//go:build cgo

package hsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/miekg/pkcs11"
)

// TestWrap runs with both mechanisms: SoftHSM2 has key wrap with padding, so
// the AES-GCM fallback is forced by setting the Module's choice directly.
func TestWrap(t *testing.T) {
	m := mustOpen(t, newConfig(t, "wrap"))
	if m.WrapMechanism() != AESKeyWrapPad {
		t.Errorf("WrapMechanism on SoftHSM2: got %v, want %v", m.WrapMechanism(), AESKeyWrapPad)
	}
	for _, mech := range []WrapMechanism{AESKeyWrapPad, AESGCM} {
		t.Run(mech.String(), func(t *testing.T) {
			m.mech = mech
			t.Cleanup(func() { m.mech = AESKeyWrapPad })
			key := "wrap-" + mech.String()
			if err := m.GenerateWrapKey(context.Background(), key); err != nil {
				t.Fatal(err)
			}
			t.Run("RoundTrip", func(t *testing.T) { testWrapRoundTrip(t, m, key, mech) })
			t.Run("Refused", func(t *testing.T) { testWrapRefused(t, m, key) })
		})
	}
}

func testWrapRoundTrip(t *testing.T, m *Module, key string, mech WrapMechanism) {
	ctx := context.Background()
	aad := []byte("associated data")
	for _, n := range []int{0, 1, 7, 8, 9, 32, 128, MaxWrapSize} {
		secret := bytes.Repeat([]byte{0xa5}, n)
		w, err := m.Wrap(ctx, key, secret, aad)
		if err != nil {
			t.Fatalf("Wrap(%d bytes): %v", n, err)
		}
		if w[0] != byte(mech) {
			t.Errorf("Wrap(%d bytes): blob names mechanism %d, want %d", n, w[0], mech)
		}
		if n >= 8 && bytes.Contains(w, secret) {
			t.Errorf("Wrap(%d bytes): blob contains the secret", n)
		}
		if again, _ := m.Wrap(ctx, key, secret, aad); bytes.Equal(again, w) {
			t.Errorf("Wrap(%d bytes) twice: got identical blobs, want different ones", n)
		}
		got, err := m.Unwrap(ctx, key, w, aad)
		if err != nil || !bytes.Equal(got, secret) {
			t.Fatalf("Unwrap(%d bytes): got %x, %v; want %x", n, got, err, secret)
		}
	}
	if _, err := m.Wrap(ctx, key, make([]byte, MaxWrapSize+1), aad); err == nil {
		t.Errorf("Wrap(%d bytes): got nil error, want one", MaxWrapSize+1)
	}
}

func testWrapRefused(t *testing.T, m *Module, key string) {
	ctx := context.Background()
	secret, aad := []byte("32 bytes of secret device key!!!"), []byte("header")
	w, err := m.Wrap(ctx, key, secret, aad)
	if err != nil {
		t.Fatal(err)
	}
	other := key + "-other"
	if err := m.GenerateWrapKey(ctx, other); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		key          string
		wrapped, aad []byte
	}{
		"other aad":         {key, w, []byte("Header")},
		"no aad":            {key, w, nil},
		"other key":         {other, w, aad},
		"one byte less":     {key, w[:len(w)-1], aad},
		"one block less":    {key, w[:len(w)-8], aad},
		"unknown mechanism": {key, flip(w, 0), aad},
		"other mechanism":   {key, otherMech(w), aad},
	}
	for _, pos := range []int{1, len(w) / 2, len(w) - 1} {
		cases[fmt.Sprintf("bit flip at %d", pos)] = struct {
			key          string
			wrapped, aad []byte
		}{key, flip(w, pos), aad}
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := m.Unwrap(ctx, c.key, c.wrapped, c.aad)
			if !errors.Is(err, ErrIntegrity) {
				t.Errorf("Unwrap: got %x, %v; want ErrIntegrity", got, err)
			}
		})
	}
	if _, err := m.Unwrap(ctx, "missing-key", w, aad); !errors.Is(err, ErrNotFound) {
		t.Errorf("Unwrap with a missing key: got %v, want ErrNotFound", err)
	}
}

func flip(b []byte, pos int) []byte {
	c := bytes.Clone(b)
	c[pos] ^= 0x04
	return c
}

// otherMech claims the other wrap mechanism for w's bytes.
func otherMech(w []byte) []byte {
	c := bytes.Clone(w)
	c[0] = byte(AESKeyWrapPad + AESGCM - WrapMechanism(c[0]))
	return c
}

func TestKeysStayInToken(t *testing.T) {
	m := mustOpen(t, newConfig(t, "attrs"))
	ctx := context.Background()
	if err := m.GenerateWrapKey(ctx, "w"); err != nil {
		t.Fatal(err)
	}
	mustSigner(t, m, "ec")
	want := map[string][]Object{
		"w":  {{Label: "w", Class: ClassSecretKey, Token: true, Sensitive: true}},
		"ec": {{Label: "ec", Class: ClassPublicKey, Token: true}, {Label: "ec", Class: ClassPrivateKey, Token: true, Sensitive: true}},
	}
	for label, wantObjs := range want {
		objs, err := m.Find(ctx, label)
		if err != nil {
			t.Fatal(err)
		}
		if got := classes(objs); got != classes(wantObjs) {
			t.Fatalf("Find(%s): got classes %s, want %s", label, got, classes(wantObjs))
		}
		for _, o := range objs {
			w := wantObjs[0]
			if o.Class != w.Class {
				w = wantObjs[1]
			}
			if len(o.ID) != idSize || o.Token != w.Token || o.Sensitive != w.Sensitive || o.Extractable {
				t.Errorf("Find(%s): got %+v, want %+v with a %d-byte ID", label, o, w, idSize)
			}
		}
	}
	all, err := m.FindAll(ctx)
	if err != nil || classes(all) != "public=1 private=1 secret=1" {
		t.Errorf("FindAll: got %s, %v; want both keys", classes(all), err)
	}
	for label := range want {
		if err := m.GenerateWrapKey(ctx, label); !errors.Is(err, ErrExists) {
			t.Errorf("GenerateWrapKey(%s) again: got %v, want ErrExists", label, err)
		}
	}
	testValueUnreadable(t, m, "w")
}

// testValueUnreadable asks the token for the wrap key's value directly.
func testValueUnreadable(t *testing.T, m *Module, label string) {
	err := m.do(context.Background(), func(s pkcs11.SessionHandle) error {
		h, err := m.handle(s, pkcs11.CKO_SECRET_KEY, label)
		if err != nil {
			return err
		}
		_, err = m.lib.ctx.GetAttributeValue(s, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)})
		return err
	})
	if !hasCode(err, pkcs11.CKR_ATTRIBUTE_SENSITIVE) {
		t.Errorf("read CKA_VALUE of %s: got %v, want CKR_ATTRIBUTE_SENSITIVE", label, err)
	}
}

func classes(objs []Object) string {
	var pub, priv, sec int
	for _, o := range objs {
		switch o.Class {
		case ClassPublicKey:
			pub++
		case ClassPrivateKey:
			priv++
		case ClassSecretKey:
			sec++
		}
	}
	return fmt.Sprintf("public=%d private=%d secret=%d", pub, priv, sec)
}

func TestDestroy(t *testing.T) {
	m := mustOpen(t, newConfig(t, "destroy"))
	ctx := context.Background()
	s := mustSigner(t, m, "ec")
	for i := range 2 {
		if err := m.Destroy(ctx, "ec"); err != nil {
			t.Fatalf("Destroy #%d: %v", i+1, err)
		}
	}
	if objs, err := m.Find(ctx, "ec"); err != nil || len(objs) != 0 {
		t.Errorf("Find after Destroy: got %v, %v; want none", objs, err)
	}
	if err := signVerify(s, "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Sign with a destroyed key: got %v, want ErrNotFound", err)
	}
	if _, err := m.Signer(ctx, "ec"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Signer of a destroyed key: got %v, want ErrNotFound", err)
	}
}

// TestDuplicateLabelRefused plants a second key with the wrap key's label, as
// another process racing to create it could; using either would be a guess.
func TestDuplicateLabelRefused(t *testing.T) {
	m := mustOpen(t, newConfig(t, "duplicate"))
	ctx := context.Background()
	if err := m.GenerateWrapKey(ctx, "w"); err != nil {
		t.Fatal(err)
	}
	err := m.do(ctx, func(s pkcs11.SessionHandle) error {
		_, err := m.lib.ctx.GenerateKey(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)},
			append(privateKeyTemplate("w"), pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
				pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32), pkcs11.NewAttribute(pkcs11.CKA_WRAP, true)))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Wrap(ctx, "w", []byte("x"), nil); err == nil {
		t.Error("Wrap with two keys labelled w: got nil error, want a refusal")
	}
}
