package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// NetworkConfig is the appliance's network configuration.
type NetworkConfig struct {
	IPAddress string       `json:"ipAddress"`
	Netmask   string       `json:"netmask"`
	Gateway   string       `json:"gateway"`
	IPv6      *NetworkIPv6 `json:"ipv6,omitempty"`
}

// NetworkIPv6 is the optional IPv6 part of NetworkConfig.
type NetworkIPv6 struct {
	CIDR    string `json:"cidr"`
	Gateway string `json:"gateway,omitempty"`
}

// NetworkTry is the answer to a configuration applied on trial.
type NetworkTry struct {
	TryID    string    `json:"tryId"`
	Deadline time.Time `json:"deadline"`
}

// Network returns the network configuration.
func (c *Client) Network(ctx context.Context) (NetworkConfig, error) {
	var out NetworkConfig
	err := c.doJSON(ctx, http.MethodGet, "/config/network", nil, nil, &out)
	return out, err
}

// SetNetwork changes the network configuration; the appliance applies it
// just after answering.
func (c *Client) SetNetwork(ctx context.Context, cfg NetworkConfig) error {
	return c.doJSON(ctx, http.MethodPut, "/config/network", nil, cfg, nil)
}

// TryNetwork applies cfg on trial: the appliance reverts it unless
// ConfirmNetwork is called within timeout (whole seconds).
func (c *Client) TryNetwork(ctx context.Context, cfg NetworkConfig, timeout time.Duration) (NetworkTry, error) {
	var out NetworkTry
	q := url.Values{"try": {"true"}, "timeout": {strconv.Itoa(int(timeout.Seconds()))}}
	err := c.doJSON(ctx, http.MethodPut, "/config/network", q, cfg, &out)
	return out, err
}

// ConfirmNetwork keeps the configuration on trial with the given id.
func (c *Client) ConfirmNetwork(ctx context.Context, tryID string) error {
	return c.doJSON(ctx, http.MethodPost, "/config/network/confirm", nil, map[string]string{"tryId": tryID}, nil)
}
