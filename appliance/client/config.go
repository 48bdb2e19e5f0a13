package client

import (
	"context"
	"net/http"
	"time"
)

// SetUnlockPassphrase changes the passphrase that unlocks the appliance.
func (c *Client) SetUnlockPassphrase(ctx context.Context, change PassphraseChange) error {
	return c.doJSON(ctx, http.MethodPut, "/config/unlock-passphrase", nil, change, nil)
}

// SetBackupPassphrase changes the passphrase that protects backups.
func (c *Client) SetBackupPassphrase(ctx context.Context, change PassphraseChange) error {
	return c.doJSON(ctx, http.MethodPut, "/config/backup-passphrase", nil, change, nil)
}

// UnattendedBoot reports whether the appliance unlocks itself at boot.
func (c *Client) UnattendedBoot(ctx context.Context) (Switch, error) {
	var out switchData
	err := c.doJSON(ctx, http.MethodGet, "/config/unattended-boot", nil, nil, &out)
	return out.Status, err
}

// SetUnattendedBoot turns unlocking at boot on or off.
func (c *Client) SetUnattendedBoot(ctx context.Context, s Switch) error {
	return c.doJSON(ctx, http.MethodPut, "/config/unattended-boot", nil, switchData{Status: s}, nil)
}

// TLSPublicPEM returns the public key of the appliance's TLS key as PEM.
func (c *Client) TLSPublicPEM(ctx context.Context) ([]byte, error) {
	return c.doRaw(ctx, request{method: http.MethodGet, path: "/config/tls/public.pem", accept: mimePEM})
}

// TLSCert returns the appliance's TLS certificate (chain) as PEM.
func (c *Client) TLSCert(ctx context.Context) ([]byte, error) {
	return c.doRaw(ctx, request{method: http.MethodGet, path: "/config/tls/cert.pem", accept: mimePEM})
}

// SetTLSCert installs a PEM certificate (chain) for the appliance's TLS key.
func (c *Client) SetTLSCert(ctx context.Context, certPEM []byte) error {
	_, err := c.doRaw(ctx, request{method: http.MethodPut, path: "/config/tls/cert.pem",
		contentType: mimePEM, body: nonNil(certPEM), accept: mimeJSON})
	return err
}

// TLSCSR returns a PEM certificate signing request for the TLS key.
func (c *Client) TLSCSR(ctx context.Context, dn DistinguishedName) ([]byte, error) {
	return c.pemForJSON(ctx, "/config/tls/csr.pem", dn)
}

// GenerateTLSKey replaces the TLS key (and its self-signed certificate).
func (c *Client) GenerateTLSKey(ctx context.Context, req TLSKeyGenerateRequest) error {
	return c.doJSON(ctx, http.MethodPost, "/config/tls/generate", nil, req, nil)
}

// Time returns the appliance clock.
func (c *Client) Time(ctx context.Context) (time.Time, error) {
	var out timeData
	err := c.doJSON(ctx, http.MethodGet, "/config/time", nil, nil, &out)
	return out.Time, err
}

// SetTime sets the appliance clock; t is sent in UTC with whole seconds.
func (c *Client) SetTime(ctx context.Context, t time.Time) error {
	return c.doJSON(ctx, http.MethodPut, "/config/time", nil, timeData{Time: wireTime(t)}, nil)
}
