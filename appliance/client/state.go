package client

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// Info returns the vendor and product name. It needs no credentials.
func (c *Client) Info(ctx context.Context) (Info, error) {
	var info Info
	err := c.doJSON(ctx, http.MethodGet, "/info", nil, nil, &info)
	return info, err
}

// State returns the appliance state. It needs no credentials.
func (c *Client) State(ctx context.Context) (SystemState, error) {
	var s stateData
	err := c.doJSON(ctx, http.MethodGet, "/health/state", nil, nil, &s)
	return s.State, err
}

// Alive reports whether the appliance is started but not yet serving keys
// (Locked or Unprovisioned). Any other state is false, not an error.
func (c *Client) Alive(ctx context.Context) (bool, error) {
	return c.probe(ctx, "/health/alive")
}

// Ready reports whether the appliance is Operational. Any other state is
// false, not an error.
func (c *Client) Ready(ctx context.Context) (bool, error) {
	return c.probe(ctx, "/health/ready")
}

// probe maps the 200/412 answer of a health endpoint to true/false.
func (c *Client) probe(ctx context.Context, path string) (bool, error) {
	err := c.doJSON(ctx, http.MethodGet, path, nil, nil, nil)
	if StatusCode(err) == http.StatusPreconditionFailed {
		return false, nil
	}
	return err == nil, err
}

// Provision turns an Unprovisioned appliance Operational with the given
// unlock and admin passphrases. A zero SystemTime sends the current time.
// The time is sent in UTC with whole seconds, the form the API documents.
func (c *Client) Provision(ctx context.Context, req ProvisionRequest) error {
	if req.SystemTime.IsZero() {
		req.SystemTime = time.Now()
	}
	req.SystemTime = wireTime(req.SystemTime)
	return c.doJSON(ctx, http.MethodPost, "/provision", nil, req, nil)
}

// Unlock turns a Locked appliance Operational.
func (c *Client) Unlock(ctx context.Context, passphrase string) error {
	return c.doJSON(ctx, http.MethodPost, "/unlock", nil, passphraseData{Passphrase: passphrase}, nil)
}

// Lock turns an Operational appliance Locked (Administrator).
func (c *Client) Lock(ctx context.Context) error {
	return c.doJSON(ctx, http.MethodPost, "/lock", nil, nil, nil)
}

// Random returns length random bytes from the appliance (Operator); the API
// accepts 1 to 1024.
func (c *Client) Random(ctx context.Context, length int) ([]byte, error) {
	var out randomData
	if err := c.doJSON(ctx, http.MethodPost, "/random", nil, randomRequest{Length: length}, &out); err != nil {
		return nil, err
	}
	if len(out.Random) != length {
		return nil, fmt.Errorf("random: got %d bytes, want %d", len(out.Random), length)
	}
	return out.Random, nil
}

// Metrics returns the appliance metrics (Metrics role). Their names and
// values are not fixed by the API, so they come as decoded JSON.
func (c *Client) Metrics(ctx context.Context) (map[string]any, error) {
	var m map[string]any
	err := c.doJSON(ctx, http.MethodGet, "/metrics", nil, nil, &m)
	return m, err
}

func wireTime(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }
