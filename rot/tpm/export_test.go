package tpm

import (
	"context"

	"github.com/google/go-tpm/tpm2/transport"
)

// Exec runs fn on the root of trust's own connection, for tests that inspect
// or change the TPM while it is open: swtpm serves one connection at a time.
func (t *TPM) Exec(ctx context.Context, fn func(tr transport.TPM) error) error {
	return t.do(ctx, fn)
}
