package appliance

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/keywarden/keywarden/rot"
	"github.com/keywarden/keywarden/rot/pkcs11"
)

// openPKCS11 opens the PKCS#11 root of trust: the token is found by its label,
// and the PIN is read from its file (never from the command line).
func (a *Appliance) openPKCS11(ctx context.Context, logger *slog.Logger) (rot.RootOfTrust, error) {
	t, err := pkcs11.Open(ctx, pkcs11.Config{
		Module:     a.cfg.PKCS11Module,
		TokenLabel: a.cfg.PKCS11Token,
		PINFile:    a.cfg.PKCS11PINFile,
		Logger:     logger,
	})
	if err != nil {
		return nil, fmt.Errorf("open PKCS#11 root of trust: %w", err)
	}
	return t, nil
}
