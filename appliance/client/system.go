package client

import (
	"context"
	"net/http"
)

// SystemInfo returns software, hardware and attestation details.
func (c *Client) SystemInfo(ctx context.Context) (SystemInfo, error) {
	var info SystemInfo
	err := c.doJSON(ctx, http.MethodGet, "/system/info", nil, nil, &info)
	return info, err
}

// Reboot restarts the appliance.
func (c *Client) Reboot(ctx context.Context) error {
	return c.doJSON(ctx, http.MethodPost, "/system/reboot", nil, nil, nil)
}

// Shutdown powers the appliance off.
func (c *Client) Shutdown(ctx context.Context) error {
	return c.doJSON(ctx, http.MethodPost, "/system/shutdown", nil, nil, nil)
}

// FactoryReset erases every key, user and setting and returns the appliance
// to Unprovisioned.
func (c *Client) FactoryReset(ctx context.Context) error {
	return c.doJSON(ctx, http.MethodPost, "/system/factory-reset", nil, nil, nil)
}
