package appliance

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/keywarden/keywarden/rot"
)

// openPKCS11 opens the PKCS#11 root of trust.
func (a *Appliance) openPKCS11(ctx context.Context, logger *slog.Logger) (rot.RootOfTrust, error) {
	return nil, fmt.Errorf("root of trust pkcs11: %w: not wired into this build yet", rot.ErrUnavailable)
}
