//go:build !cgo

package hsm

import (
	"context"
	"crypto"
	"io"
)

// Module is an open PKCS#11 token. Without cgo it cannot be opened.
type Module struct{}

// Signer is a private key inside the token. Without cgo there is none.
type Signer struct{}

// Open returns ErrNoCgo: this binary was built without cgo.
func Open(context.Context, Config) (*Module, error) { return nil, ErrNoCgo }

// Label returns "".
func (*Module) Label() string { return "" }

// WrapMechanism returns 0.
func (*Module) WrapMechanism() WrapMechanism { return 0 }

// Find returns ErrNoCgo.
func (*Module) Find(context.Context, string) ([]Object, error) { return nil, ErrNoCgo }

// FindAll returns ErrNoCgo.
func (*Module) FindAll(context.Context) ([]Object, error) { return nil, ErrNoCgo }

// GenerateWrapKey returns ErrNoCgo.
func (*Module) GenerateWrapKey(context.Context, string) error { return ErrNoCgo }

// GenerateECKey returns ErrNoCgo.
func (*Module) GenerateECKey(context.Context, string) (*Signer, error) { return nil, ErrNoCgo }

// Signer returns ErrNoCgo.
func (*Module) Signer(context.Context, string) (*Signer, error) { return nil, ErrNoCgo }

// Wrap returns ErrNoCgo.
func (*Module) Wrap(context.Context, string, []byte, []byte) ([]byte, error) { return nil, ErrNoCgo }

// Unwrap returns ErrNoCgo.
func (*Module) Unwrap(context.Context, string, []byte, []byte) ([]byte, error) { return nil, ErrNoCgo }

// Destroy returns ErrNoCgo.
func (*Module) Destroy(context.Context, string) error { return ErrNoCgo }

// Random returns ErrNoCgo.
func (*Module) Random(context.Context, int) ([]byte, error) { return nil, ErrNoCgo }

// Close does nothing.
func (*Module) Close() error { return nil }

// Label returns "".
func (*Signer) Label() string { return "" }

// Public returns nil.
func (*Signer) Public() crypto.PublicKey { return nil }

// Sign returns ErrNoCgo.
func (*Signer) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) { return nil, ErrNoCgo }

// SignContext returns ErrNoCgo.
func (*Signer) SignContext(context.Context, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, ErrNoCgo
}
