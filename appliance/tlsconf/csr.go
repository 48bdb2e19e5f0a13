package tlsconf

import (
	"errors"
	"fmt"

	"github.com/keywarden/keywarden/appliance/keys"
)

// DistinguishedName is the subject of a certificate signing request, in the
// JSON shape of the REST API; the key API and the TLS key share it.
type DistinguishedName = keys.DistinguishedName

// CSR returns a PEM CERTIFICATE REQUEST for dn, signed by the identity's key.
// It returns an error wrapping ErrInvalid for a missing common name or a bad
// "IP:" entry.
func (id *Identity) CSR(dn DistinguishedName) ([]byte, error) {
	key := id.signer()
	if key == nil {
		return nil, errors.New("tlsconf: csr: identity has no key")
	}
	csr, err := keys.SignCSR(key, dn)
	if errors.Is(err, keys.ErrInvalid) {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return csr, err
}
