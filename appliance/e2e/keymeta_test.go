package e2e

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	_ "crypto/md5" // PSS_MD5 and OAEP_MD5
	"crypto/rand"
	_ "crypto/sha1" // PSS_SHA1 and OAEP_SHA1
	_ "crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/appliance/apptest"
	"github.com/keywarden/keywarden/appliance/client"
)

// Key import, listing and metadata: the parts of TestKeys that are not
// cryptographic operations.

func rawAndBase64(b ...[]byte) []string {
	var out []string
	for _, s := range b {
		out = append(out, string(s), base64.StdEncoding.EncodeToString(s))
	}
	return out
}

// importJSON imports RSA primes, an EC scalar, an Ed25519 seed and an AES key
// as JSON, uses each against the original public key, and returns the
// private material for the secret scan.
func (e keyEnv) importJSON(t *testing.T) []string {
	ctx := apptest.Context(t)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	scalar, _ := ec.Bytes()
	seed, aesKey := make([]byte, ed25519.SeedSize), make([]byte, 32)
	_, _ = rand.Read(seed)
	_, _ = rand.Read(aesKey)
	ed := ed25519.NewKeyFromSeed(seed)
	p, q := e.rsa.Primes[0], e.rsa.Primes[1]
	// A leading zero byte, as signed-integer encoders write it (and as the
	// reference's example has it), must not change the prime.
	rsaData := client.KeyPrivateData{PrimeP: append([]byte{0}, p.Bytes()...), PrimeQ: q.Bytes(), PublicExponent: big.NewInt(int64(e.rsa.E)).Bytes()}
	ec521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	scalar521, _ := ec521.Bytes()
	scalar521 = bytes.TrimLeft(scalar521, "\x00") // shorter than the curve size
	for _, tc := range []struct {
		id   string
		key  client.PrivateKey
		pub  crypto.PublicKey
		sign signMode
	}{
		{"imp-rsa", client.PrivateKey{Type: "RSA", Mechanisms: allRSAMechs, Private: rsaData}, &e.rsa.PublicKey, signMode{"PKCS1", crypto.SHA256}},
		{"imp-p256", client.PrivateKey{Type: "EC_P256", Mechanisms: mechs("ECDSA_Signature"), Private: client.KeyPrivateData{Data: scalar}}, &ec.PublicKey, signMode{"ECDSA", crypto.SHA256}},
		{"imp-p521", client.PrivateKey{Type: "EC_P521", Mechanisms: mechs("ECDSA_Signature"), Private: client.KeyPrivateData{Data: scalar521}}, &ec521.PublicKey, signMode{"ECDSA", crypto.SHA512}},
		{"imp-ed", client.PrivateKey{Type: "Curve25519", Mechanisms: mechs("EdDSA_Signature"), Private: client.KeyPrivateData{Data: seed}}, ed.Public(), signMode{"EdDSA", 0}},
	} {
		if _, err := e.admin.ImportKey(ctx, tc.id, tc.key); err != nil {
			t.Fatalf("import %s: %v", tc.id, err)
		}
		e.wantPublic(t, tc.id, tc.pub)
		e.signVerify(t, tc.id, tc.pub, tc.sign)
		_, err := e.admin.ImportKey(ctx, tc.id, tc.key)
		wantStatus(t, "PUT /keys/"+tc.id+" again", err, 409)
	}
	e.decryptAll(t, "imp-rsa", &e.rsa.PublicKey)
	id, err := e.admin.ImportKey(ctx, "", client.PrivateKey{Type: "Generic", Mechanisms: mechs("AES_Encryption_CBC", "AES_Decryption_CBC"), Private: client.KeyPrivateData{Data: aesKey}})
	if err != nil || id == "" {
		t.Fatalf("import a Generic key with a generated ID: got %q, %v", id, err)
	}
	e.aesRoundTrip(t, id, aesKey)
	return rawAndBase64(scalar, scalar521, seed, aesKey, p.Bytes(), q.Bytes())
}

// wantPublic fails unless the appliance's public key for id is want.
func (e keyEnv) wantPublic(t *testing.T, id string, want crypto.PublicKey) {
	t.Helper()
	got := publicKey(t, e.admin, id)
	if k, ok := got.(interface{ Equal(crypto.PublicKey) bool }); !ok || !k.Equal(want) {
		t.Errorf("public key of %s: got %T that differs from the imported key", id, got)
	}
}

// importPEM imports PKCS#8, PKCS#1 and SEC1 PEM keys as multipart uploads.
func (e keyEnv) importPEM(t *testing.T) []string {
	ctx := apptest.Context(t)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	pkcs8EC, _ := x509.MarshalPKCS8PrivateKey(p384)
	pkcs8Ed, _ := x509.MarshalPKCS8PrivateKey(ed)
	sec1, _ := x509.MarshalECPrivateKey(p256)
	for _, tc := range []struct {
		id, block string
		der       []byte
		pub       crypto.PublicKey
		sign      signMode
	}{
		{"pem-pkcs8-p384", "PRIVATE KEY", pkcs8EC, &p384.PublicKey, signMode{"ECDSA", crypto.SHA384}},
		{"pem-pkcs8-ed", "PRIVATE KEY", pkcs8Ed, ed.Public(), signMode{"EdDSA", 0}},
		{"pem-pkcs1", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(e.rsa), &e.rsa.PublicKey, signMode{"PSS_SHA512", crypto.SHA512}},
		{"pem-sec1", "EC PRIVATE KEY", sec1, &p256.PublicKey, signMode{"ECDSA", crypto.SHA256}},
	} {
		mech := map[client.SignMode]client.KeyMechanism{"ECDSA": "ECDSA_Signature", "EdDSA": "EdDSA_Signature", "PSS_SHA512": "RSA_Signature_PSS_SHA512"}[tc.sign.mode]
		args := client.KeyImportArguments{Mechanisms: mechs(mech)}
		keyPEM := pem.EncodeToMemory(&pem.Block{Type: tc.block, Bytes: tc.der})
		if _, err := e.admin.ImportKeyPEM(ctx, tc.id, args, keyPEM); err != nil {
			t.Fatalf("import %s: %v", tc.id, err)
		}
		e.wantPublic(t, tc.id, tc.pub)
		e.signVerify(t, tc.id, tc.pub, tc.sign)
		_, err := e.admin.ImportKeyPEM(ctx, tc.id, args, keyPEM)
		wantStatus(t, "PUT /keys/"+tc.id+" again", err, 409)
	}
	s384, _ := p384.Bytes()
	s256, _ := p256.Bytes()
	return rawAndBase64(s384, s256, ed.Seed())
}

// ids fails unless got holds exactly want, in any order.
func wantIDs(t *testing.T, what string, got []string, err error, want ...string) {
	t.Helper()
	slices.Sort(got)
	slices.Sort(want)
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("%s: got %v, %v; want %v", what, got, err, want)
	}
}

func (e keyEnv) listing(t *testing.T) {
	ctx := apptest.Context(t)
	for _, id := range []string{"pre-a", "pre-b", "prefix-c", "other-pre"} {
		e.generate(t, client.KeyGenerateRequest{ID: id, Type: "EC_P256", Mechanisms: mechs("ECDSA_Signature")})
	}
	if err := e.admin.SetKeyLabel(ctx, "pre-b", "blue"); err != nil {
		t.Fatalf("label pre-b: %v", err)
	}
	got, err := e.admin.KeysWithPrefix(ctx, "pre", "")
	wantIDs(t, "keys with prefix pre", got, err, "pre-a", "pre-b", "prefix-c")
	got, err = e.op.KeysWithPrefix(ctx, "pre-", "")
	wantIDs(t, "keys with prefix pre- (Operator)", got, err, "pre-a", "pre-b")
	got, err = e.admin.Keys(ctx, client.KeyListOptions{Label: "blue"})
	wantIDs(t, "keys labelled blue", got, err, "pre-b")
	got, err = e.op.Keys(ctx, client.KeyListOptions{})
	if err != nil || !slices.Contains(got, "other-pre") || !slices.Contains(got, "gen-rsa") {
		t.Errorf("all keys: got %v, %v; want other-pre and gen-rsa among them", got, err)
	}
}

// restrictions checks that a tagged key is usable and listed (with filter)
// only for Operators carrying one of its tags.
func (e keyEnv) restrictions(t *testing.T, berlin *client.Client) {
	ctx := apptest.Context(t)
	e.generate(t, client.KeyGenerateRequest{ID: "tag-berlin", Type: "EC_P256", Mechanisms: mechs("ECDSA_Signature"), Restrictions: &client.KeyRestrictions{Tags: []string{"berlin"}}})
	e.generate(t, client.KeyGenerateRequest{ID: "tag-none", Type: "EC_P256", Mechanisms: mechs("ECDSA_Signature")})
	if k, err := e.admin.Key(ctx, "tag-berlin"); err != nil || !slices.Equal(k.Restrictions.Tags, []string{"berlin"}) {
		t.Errorf("restrictions of tag-berlin: got %+v, %v; want tags [berlin]", k.Restrictions, err)
	}
	sign := func(c *client.Client, id string) error {
		_, err := c.Sign(ctx, id, client.SignRequest{Mode: "ECDSA", Message: make([]byte, 32)})
		return err
	}
	wantStatus(t, "untagged Operator signing with tag-berlin", sign(e.op, "tag-berlin"), 403)
	for _, c := range []*client.Client{berlin, e.op} {
		if err := sign(c, "tag-none"); err != nil {
			t.Errorf("signing with the untagged key: %v", err)
		}
	}
	if err := sign(berlin, "tag-berlin"); err != nil {
		t.Errorf("berlin Operator signing with tag-berlin: %v", err)
	}
	got, err := e.op.KeysWithPrefix(ctx, "tag-", "yes")
	wantIDs(t, "filtered keys for an untagged Operator", got, err, "tag-none")
	got, err = berlin.KeysWithPrefix(ctx, "tag-", "yes")
	wantIDs(t, "filtered keys for the berlin Operator", got, err, "tag-berlin", "tag-none")
	got, err = e.op.KeysWithPrefix(ctx, "tag-", "")
	wantIDs(t, "unfiltered keys for an untagged Operator", got, err, "tag-berlin", "tag-none")
	if all, err := e.op.Keys(ctx, client.KeyListOptions{Filter: "1"}); err != nil || slices.Contains(all, "tag-berlin") {
		t.Errorf("GET /keys?filter for an untagged Operator: got %v, %v; want no tag-berlin", all, err)
	}

	if err := e.admin.AddKeyRestrictionTag(ctx, "tag-none", "munich"); err != nil {
		t.Fatalf("add tag munich: got %v, want 204", err)
	}
	wantStatus(t, "add tag munich again", e.admin.AddKeyRestrictionTag(ctx, "tag-none", "munich"), 304)
	wantStatus(t, "add a malformed tag", e.admin.AddKeyRestrictionTag(ctx, "tag-none", "bad tag"), 400)
	wantStatus(t, "untagged Operator after tagging munich", sign(e.op, "tag-none"), 403)
	wantStatus(t, "berlin Operator after tagging munich", sign(berlin, "tag-none"), 403)
	if err := e.admin.RemoveKeyRestrictionTag(ctx, "tag-none", "munich"); err != nil {
		t.Fatalf("remove tag munich: %v", err)
	}
	wantStatus(t, "remove tag munich again", e.admin.RemoveKeyRestrictionTag(ctx, "tag-none", "munich"), 404)
	if err := sign(e.op, "tag-none"); err != nil {
		t.Errorf("untagged Operator after removing the tag: %v", err)
	}
}

// move renames a key with its certificate.
func (e keyEnv) move(t *testing.T) {
	ctx := apptest.Context(t)
	e.generate(t, client.KeyGenerateRequest{ID: "mv-src", Type: "Curve25519", Mechanisms: mechs("EdDSA_Signature"), Label: "moving"})
	e.generate(t, client.KeyGenerateRequest{ID: "mv-taken", Type: "EC_P256", Mechanisms: mechs("ECDSA_Signature")})
	pub := publicKey(t, e.admin, "mv-src")
	cert := []byte("certificate that moves with its key")
	if err := e.admin.SetKeyCert(ctx, "mv-src", cert); err != nil {
		t.Fatalf("set cert: %v", err)
	}
	if id, err := e.admin.MoveKey(ctx, "mv-src", "mv-dst"); err != nil || id != "mv-dst" {
		t.Fatalf("move: got %q, %v; want 200 with id mv-dst", id, err)
	}
	_, err := e.admin.Key(ctx, "mv-src")
	wantStatus(t, "the old ID after move", err, 404)
	e.wantPublic(t, "mv-dst", pub)
	if k, err := e.admin.Key(ctx, "mv-dst"); err != nil || k.Label != "moving" {
		t.Errorf("label after move: got %q, %v; want moving", k.Label, err)
	}
	e.signVerify(t, "mv-dst", pub, signMode{"EdDSA", 0})
	if got, err := e.admin.KeyCert(ctx, "mv-dst"); err != nil || !bytes.Equal(got, cert) {
		t.Errorf("certificate after move: got %q, %v; want %q", got, err, cert)
	}
	_, err = e.admin.MoveKey(ctx, "mv-dst", "mv-taken")
	wantStatus(t, "move onto an existing ID", err, 409)
	e.wantPublic(t, "mv-dst", pub)
	_, err = e.admin.MoveKey(ctx, "no-such-key", "mv-new")
	wantStatus(t, "move a missing key", err, 404)
}

func (e keyEnv) label(t *testing.T) {
	ctx := apptest.Context(t)
	e.generate(t, client.KeyGenerateRequest{ID: "lbl", Type: "EC_P256", Mechanisms: mechs("ECDSA_Signature"), Label: "first"})
	wantLabel := func(want string) {
		t.Helper()
		if k, err := e.admin.Key(ctx, "lbl"); err != nil || k.Label != want {
			t.Errorf("label: got %q, %v; want %q", k.Label, err, want)
		}
	}
	wantLabel("first")
	if err := e.admin.SetKeyLabel(ctx, "lbl", "second"); err != nil {
		t.Fatalf("set label: got %v, want 204", err)
	}
	wantStatus(t, "set the same label again", e.admin.SetKeyLabel(ctx, "lbl", "second"), 304)
	wantStatus(t, "a 33-byte label", e.admin.SetKeyLabel(ctx, "lbl", strings.Repeat("x", 33)), 400)
	wantLabel("second")
	for range 2 { // deleting is idempotent
		if err := e.admin.DeleteKeyLabel(ctx, "lbl"); err != nil {
			t.Fatalf("delete label: %v", err)
		}
	}
	wantLabel("")
	wantStatus(t, "delete the label of a missing key", e.admin.DeleteKeyLabel(ctx, "no-such-key"), 404)
}

// csr asks for CSRs of generated keys and checks they are signed by the key.
func (e keyEnv) csr(t *testing.T) {
	ctx := apptest.Context(t)
	dn := client.DistinguishedName{CommonName: "e2e.keywarden.test", OrganizationName: "Keywarden"}
	for _, id := range []string{"gen-rsa", "gen-ec_p384", "gen-ec_p521", "gen-curve25519"} {
		p, err := e.op.KeyCSR(ctx, id, dn)
		if err != nil {
			t.Fatalf("csr of %s: %v", id, err)
		}
		b, _ := pem.Decode(p)
		if b == nil || b.Type != "CERTIFICATE REQUEST" {
			t.Fatalf("csr of %s is not a PEM CERTIFICATE REQUEST: %q", id, p)
		}
		csr, err := x509.ParseCertificateRequest(b.Bytes)
		if err != nil {
			t.Fatalf("csr of %s: %v", id, err)
		}
		if err := csr.CheckSignature(); err != nil {
			t.Errorf("csr of %s: signature: %v", id, err)
		}
		if csr.Subject.CommonName != dn.CommonName || !slices.Equal(csr.Subject.Organization, []string{"Keywarden"}) {
			t.Errorf("csr of %s: subject %v, want CN %s, O Keywarden", id, csr.Subject, dn.CommonName)
		}
		e.wantPublic(t, id, csr.PublicKey)
	}
	_, err := e.admin.KeyCSR(ctx, "gen-generic", dn)
	wantStatus(t, "csr of a Generic key", err, 400)
}

// certificate stores, reads and deletes a certificate of arbitrary bytes.
func (e keyEnv) certificate(t *testing.T) {
	ctx := apptest.Context(t)
	e.generate(t, client.KeyGenerateRequest{ID: "with-cert", Type: "EC_P256", Mechanisms: mechs("ECDSA_Signature")})
	cert := make([]byte, 700)
	_, _ = rand.Read(cert)
	cert[0], cert[1], cert[2] = 0, 0xff, '\n' // bytes a text round trip would mangle
	raw := newRaw(t, e.d, net.IPv4(127, 0, 1, 1))
	put := func(ctype string) rawResp {
		return raw.do(t, rawReq{method: "PUT", path: "/keys/with-cert/cert", user: "admin", pass: adminPass, ctype: ctype, body: string(cert)})
	}
	put("application/x-pem-file").want(t, "cert as PEM content type", 415)
	put("application/json").want(t, "cert as JSON content type", 415)
	put("application/octet-stream").want(t, "cert", 201)
	for _, c := range []*client.Client{e.admin, e.op} {
		if got, err := c.KeyCert(ctx, "with-cert"); err != nil || !bytes.Equal(got, cert) {
			t.Errorf("get cert: got %d bytes, %v; want the %d bytes stored", len(got), err, len(cert))
		}
	}
	put("application/octet-stream").want(t, "cert again", 409)
	if err := e.admin.DeleteKeyCert(ctx, "with-cert"); err != nil {
		t.Fatalf("delete cert: %v", err)
	}
	_, err := e.admin.KeyCert(ctx, "with-cert")
	wantStatus(t, "get a deleted cert", err, 404)
	wantStatus(t, "delete a deleted cert", e.admin.DeleteKeyCert(ctx, "with-cert"), 404)
	wantStatus(t, "cert of a missing key", e.admin.SetKeyCert(ctx, "no-such-key", cert), 404)
}

func (e keyEnv) delete(t *testing.T) {
	ctx := apptest.Context(t)
	e.generate(t, client.KeyGenerateRequest{ID: "doomed", Type: "EC_P256", Mechanisms: mechs("ECDSA_Signature")})
	if err := e.admin.DeleteKey(ctx, "doomed"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	_, err := e.admin.Key(ctx, "doomed")
	wantStatus(t, "get a deleted key", err, 404)
	_, err = e.op.Sign(ctx, "doomed", client.SignRequest{Mode: "ECDSA", Message: make([]byte, 32)})
	wantStatus(t, "sign with a deleted key", err, 404)
	wantStatus(t, "delete a deleted key", e.admin.DeleteKey(ctx, "doomed"), 404)
	if ids, err := e.admin.Keys(ctx, client.KeyListOptions{}); err != nil || slices.Contains(ids, "doomed") {
		t.Errorf("keys after delete: got %v, %v; want no doomed", ids, err)
	}
}

// operations checks that the operations counter counts signatures and
// nothing else.
func (e keyEnv) operations(t *testing.T) {
	ctx := apptest.Context(t)
	id := e.generate(t, client.KeyGenerateRequest{Type: "EC_P256", Mechanisms: mechs("ECDSA_Signature")})
	count := func() int64 {
		t.Helper()
		k, err := e.admin.Key(ctx, id)
		if err != nil {
			t.Fatalf("get %s: %v", id, err)
		}
		return k.Operations
	}
	if n := count(); n != 0 {
		t.Fatalf("operations of a new key: got %d, want 0", n)
	}
	pub := publicKey(t, e.admin, id)
	for range 3 {
		e.signVerify(t, id, pub, signMode{"ECDSA", crypto.SHA256})
	}
	if n := count(); n != 3 {
		t.Errorf("operations after 3 signatures: got %d, want 3", n)
	}
	if err := e.admin.DeleteKey(ctx, id); err != nil {
		t.Fatalf("delete: %v", err)
	}
	e.generate(t, client.KeyGenerateRequest{ID: id, Type: "EC_P256", Mechanisms: mechs("ECDSA_Signature")})
	if n := count(); n != 0 {
		t.Errorf("operations of a new key under a deleted key's ID: got %d, want 0", n)
	}
}
