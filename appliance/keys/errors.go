package keys

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error of this package wraps exactly one of them, or
// none when the failure is internal (a broken random source, a failed
// consistency check of the crypto library).
var (
	// ErrInvalid means the caller's input is wrong: an unknown enum value, a
	// bad length, malformed key material, a failed decryption.
	ErrInvalid = errors.New("invalid input")
	// ErrUnsupported means the input is well-formed but names something this
	// implementation does not provide (for example EC_P256K1 or BIP340).
	ErrUnsupported = errors.New("unsupported")
	// ErrNotPermitted means the key does not carry the mechanism the
	// requested mode needs.
	ErrNotPermitted = errors.New("not permitted")
)

// invalidf formats a message and wraps ErrInvalid after it.
func invalidf(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, ErrInvalid)...)
}

// unsupportedf formats a message and wraps ErrUnsupported after it.
func unsupportedf(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, ErrUnsupported)...)
}
