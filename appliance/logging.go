package appliance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/keywarden/keywarden/appliance/api"
	"github.com/keywarden/keywarden/appliance/logfwd"
	"github.com/keywarden/keywarden/cluster"
)

// Log forwarding is node-local: each appliance says where its own log goes.

// loadLogging applies the stored logging configuration (at boot).
func (a *Appliance) loadLogging(ctx context.Context) error {
	it, err := a.local.Get(ctx, a.localPath("logging"))
	if errors.Is(err, cluster.ErrNotFound) {
		// Nothing stored (a new or factory-reset node): forwarding off,
		// whatever the process forwarded before.
		if a.cfg.LogForwarder != nil {
			return a.cfg.LogForwarder.SetConfig(logfwd.DefaultConfig())
		}
		return nil
	}
	if err != nil {
		return err
	}
	var c logfwd.Config
	if err := json.Unmarshal(it.Value, &c); err != nil {
		return fmt.Errorf("decode logging configuration: %w", err)
	}
	if a.cfg.LogForwarder != nil {
		if err := a.cfg.LogForwarder.SetConfig(c); err != nil {
			a.log.Warn("the stored logging configuration is not valid; forwarding stays off", "err", err)
		}
	}
	return nil
}

// Logging implements api.Backend.
func (a *Appliance) Logging(ctx context.Context) (logfwd.Config, error) {
	it, err := a.local.Get(ctx, a.localPath("logging"))
	if errors.Is(err, cluster.ErrNotFound) {
		return logfwd.DefaultConfig(), nil
	}
	if err != nil {
		return logfwd.Config{}, err
	}
	var c logfwd.Config
	if err := json.Unmarshal(it.Value, &c); err != nil {
		return c, fmt.Errorf("decode logging configuration: %w", err)
	}
	return c, nil
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
