// Package rot defines the root-of-trust contract that binds an appliance's key
// hierarchy to hardware: a TPM 2.0, a PKCS#11 token, or (for development only) a
// file. Implementations live in sub-packages; the appliance chooses one by an
// explicit switch. This package imports only the standard library so that a
// TPM-only build can be CGO_ENABLED=0.
package rot

import (
	"context"
	"crypto"
	"errors"
)

// RootOfTrust seals small secrets (the device key, the unattended-boot slot) so
// that only this device, in its expected state, can unseal them.
type RootOfTrust interface {
	// Seal protects secret for this device and returns an opaque blob that is
	// safe to store on disk.
	Seal(ctx context.Context, secret []byte) (blob []byte, err error)
	// Unseal recovers a secret sealed by Seal on this device. It returns an error
	// wrapping ErrPolicy when the device state no longer satisfies the sealing
	// policy, ErrWrongDevice when the blob was sealed by another device, and
	// ErrMalformed when the blob is not a sealed blob at all or fails
	// authentication. Every method returns ErrClosed after Close; reopening
	// the same device keeps its identity and unseals its old blobs.
	Unseal(ctx context.Context, blob []byte) ([]byte, error)
	// Identity returns the device identity key. Its private part never leaves
	// the root of trust (except for the development-only soft backend).
	Identity(ctx context.Context) (crypto.Signer, error)
	// Close releases the root of trust. It is idempotent.
	Close() error
}

// Describer is implemented by roots of trust that can report what they are.
type Describer interface {
	Describe() Description
}

// Description says what a root of trust is, for logs and /system/info.
type Description struct {
	Kind            string // "soft", "tpm", "pkcs11"
	DevelopmentOnly bool   // true when the backend offers no hardware protection
	Detail          string // human-readable, e.g. token label or TPM path
}

// MaxSecretSize is the largest secret every backend can seal (a TPM sealed
// data object holds 128 bytes).
const MaxSecretSize = 128

// Random is implemented by roots of trust with a hardware random number
// generator; the appliance mixes its output into the keys it generates.
type Random interface {
	Random(ctx context.Context, n int) ([]byte, error)
}

// Attester is implemented by roots of trust that measure the platform: it
// returns the current values of the PCRs in the sealing policy, by index.
type Attester interface {
	PCRs(ctx context.Context) (map[int][]byte, error)
}

// Destroyer is implemented by roots of trust that persisted material of their own
// (TPM objects, token objects, key files) which a factory reset must erase.
type Destroyer interface {
	Destroy(ctx context.Context) error
}

var (
	// ErrPolicy means the device state no longer satisfies the sealing policy
	// (for a TPM: PCR values changed).
	ErrPolicy = errors.New("root of trust: sealing policy not satisfied")
	// ErrWrongDevice means the blob was sealed by a different device.
	ErrWrongDevice = errors.New("root of trust: blob sealed by another device")
	// ErrMalformed means the blob is not a sealed blob of this backend.
	ErrMalformed = errors.New("root of trust: malformed sealed blob")
	// ErrUnavailable means the hardware is missing or cannot be opened.
	ErrUnavailable = errors.New("root of trust: unavailable")
	// ErrAuth means the root of trust refused the credentials it was given
	// (a PKCS#11 PIN). Backends never retry, so a token cannot be locked by a
	// retry loop.
	ErrAuth = errors.New("root of trust: credentials refused")
	// ErrClosed means the root of trust was used after Close.
	ErrClosed = errors.New("root of trust: closed")
)
