package appliance

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/keywarden/keywarden/appliance/api"
	"github.com/keywarden/keywarden/appliance/logfwd"
)

// Log forwarding is node-local: each appliance says where its own log goes.

// loadLogging applies the stored logging configuration (at boot).
func (a *Appliance) loadLogging(ctx context.Context) error {
	// Nothing stored (a new or factory-reset node) is the default: no
	// forwarding, whatever the process forwarded before.
	c, err := a.Logging(ctx)
	if err != nil || a.cfg.LogForwarder == nil {
		return err
	}
	if err := a.cfg.LogForwarder.SetConfig(c); err != nil {
		a.log.Warn("the stored logging configuration is not valid; forwarding stays off", "err", err)
	}
	return nil
}

// Logging implements api.Backend.
func (a *Appliance) Logging(ctx context.Context) (logfwd.Config, error) {
	c, ok, err := getLocal[logfwd.Config](ctx, a, "logging")
	if !ok && err == nil {
		c = logfwd.DefaultConfig()
	}
	return c, err
}

// SetLogging implements api.Backend: an invalid configuration is 400 and
// changes nothing; a valid one is stored and takes effect at once.
func (a *Appliance) SetLogging(ctx context.Context, c logfwd.Config) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if _, err := a.local.Txn(ctx, nil, a.local.Put(a.localPath("logging"), b)); err != nil {
		return err
	}
	if a.cfg.LogForwarder != nil {
		if err := a.cfg.LogForwarder.SetConfig(c); err != nil {
			return err
		}
	}
	a.log.Info("logging configuration changed", "ipAddress", c.IPAddress, "port", c.Port, "logLevel", c.LogLevel)
	return nil
}
