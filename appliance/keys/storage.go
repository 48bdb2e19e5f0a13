package keys

import (
	"crypto/x509"
	"fmt"
)

// storageVersion is the first byte of MarshalBinary's output. Bump it when
// the layout changes and keep reading the old layouts.
const storageVersion = 1

// MarshalBinary encodes the key for storage: a version byte, the type and
// the mechanisms (each length-prefixed), then the private material (PKCS#8 for
// asymmetric keys, the raw AES key for Generic keys).
//
// The output contains the private key in plaintext: the caller must encrypt
// it before it leaves memory.
func (k *Key) MarshalBinary() ([]byte, error) {
	material, err := k.material()
	if err != nil {
		return nil, fmt.Errorf("marshal key: %w", err)
	}
	out := []byte{storageVersion}
	out = appendShortString(out, string(k.typ))
	out = append(out, byte(len(k.mechs)))
	for _, m := range k.mechs {
		out = appendShortString(out, string(m))
	}
	return append(out, material...), nil
}

func (k *Key) material() ([]byte, error) {
	switch {
	case k.secret != nil:
		return k.secret, nil
	case k.signer != nil:
		return x509.MarshalPKCS8PrivateKey(k.signer)
	}
	return nil, invalidf("key is empty")
}

// appendShortString appends s with a one-byte length; our type and
// mechanism names are all far shorter than 256 bytes.
func appendShortString(b []byte, s string) []byte {
	return append(append(b, byte(len(s))), s...)
}

// UnmarshalBinary replaces k with the key encoded by MarshalBinary. It checks
// the encoding as strictly as an import: the material must match the stored
// type and the mechanisms must fit it. RSA keys come back with their CRT
// values precomputed. Errors wrap ErrInvalid or ErrUnsupported.
func (k *Key) UnmarshalBinary(data []byte) error {
	nk, err := unmarshalKey(data)
	if err != nil {
		return fmt.Errorf("unmarshal key: %w", err)
	}
	*k = *nk
	return nil
}

func unmarshalKey(data []byte) (*Key, error) {
	if len(data) == 0 || data[0] != storageVersion {
		return nil, invalidf("unknown storage version")
	}
	r := shortReader{b: data[1:]}
	t := Type(r.string())
	mechs := make([]Mechanism, r.byte())
	for i := range mechs {
		mechs[i] = Mechanism(r.string())
	}
	if r.short {
		return nil, invalidf("data is truncated")
	}
	if err := t.checkSupported(); err != nil {
		return nil, err
	}
	if t == TypeGeneric {
		return newGeneric(r.b, mechs)
	}
	priv, err := x509.ParsePKCS8PrivateKey(r.b)
	if err != nil {
		return nil, invalidf("private key: %v", err)
	}
	k, err := newAsymmetric(priv, mechs)
	if err != nil {
		return nil, err
	}
	if k.typ != t {
		return nil, invalidf("private key is %s, stored type is %s", k.typ, t)
	}
	return k, nil
}

// shortReader reads one-byte-length-prefixed fields and remembers whether it
// ran out of data, so the caller checks once at the end.
type shortReader struct {
	b     []byte
	short bool
}

func (r *shortReader) byte() int {
	if len(r.b) < 1 {
		r.short = true
		return 0
	}
	n := r.b[0]
	r.b = r.b[1:]
	return int(n)
}

func (r *shortReader) string() string {
	n := r.byte()
	if len(r.b) < n {
		r.short = true
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}
