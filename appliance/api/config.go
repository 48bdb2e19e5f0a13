package api

import (
	"strconv"

	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/keywarden/keywarden/netcfg"

	"github.com/keywarden/keywarden/netcfg/timesync"

	"github.com/keywarden/keywarden/appliance/logfwd"

	"github.com/keywarden/keywarden/appliance/tlsconf"
)

type passphraseChange struct {
	NewPassphrase     string `json:"newPassphrase"`
	CurrentPassphrase string `json:"currentPassphrase"`
}

func decodePassphraseChange(c *call) (passphraseChange, error) {
	var req passphraseChange
	if err := c.decode(&req); err != nil {
		return req, err
	}
	return req, passphrase("newPassphrase", req.NewPassphrase)
}

func handleUnlockPassphrase(c *call) error {
	req, err := decodePassphraseChange(c)
	if err != nil {
		return err
	}
	if err := c.s.backend.SetUnlockPassphrase(c.ctx(), req.CurrentPassphrase, req.NewPassphrase); err != nil {
		return err
	}
	c.s.log.Info("unlock passphrase changed", "by", c.user.ID)
	return c.noContent()
}

func handleBackupPassphrase(c *call) error {
	req, err := decodePassphraseChange(c)
	if err != nil {
		return err
	}
	if err := c.s.backend.SetBackupPassphrase(c.ctx(), req.CurrentPassphrase, req.NewPassphrase); err != nil {
		return err
	}
	c.s.log.Info("backup passphrase changed", "by", c.user.ID)
	return c.noContent()
}

func handleGetUnattended(c *call) error {
	on, err := c.s.backend.UnattendedBoot(c.ctx())
	if err != nil {
		return err
	}
	status := "off"
	if on {
		status = "on"
	}
	return c.json(http.StatusOK, map[string]string{"status": status})
}

func handleSetUnattended(c *call) error {
	var req struct {
		Status string `json:"status"`
	}
	if err := c.decode(&req); err != nil {
		return err
	}
	if req.Status != "on" && req.Status != "off" {
		return fmt.Errorf("%w: status must be \"on\" or \"off\"", ErrBadRequest)
	}
	if err := c.s.backend.SetUnattendedBoot(c.ctx(), req.Status == "on"); err != nil {
		return err
	}
	c.s.log.Info("unattended boot switched", "status", req.Status, "by", c.user.ID)
	return c.noContent()
}

func handleTLSPublic(c *call) error {
	return c.pem(c.s.backend.TLS().PublicPEM())
}

func handleTLSCert(c *call) error {
	return c.pem(c.s.backend.TLS().CertPEM())
}

func handleSetTLSCert(c *call) error {
	if err := requireType(c.r, typePEM); err != nil {
		return err
	}
	body, err := c.readBody(1 << 20)
	if err != nil {
		return err
	}
	if err := c.s.backend.SetTLSCertificate(c.ctx(), body); err != nil {
		return err
	}
	c.s.log.Info("TLS certificate replaced", "by", c.user.ID)
	return c.created("/config/tls/cert.pem", nil)
}

func handleTLSCSR(c *call) error {
	var dn tlsconf.DistinguishedName
	if err := c.decode(&dn); err != nil {
		return err
	}
	csr, err := c.s.backend.TLS().CSR(dn)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	return c.pem(csr)
}

func handleTLSGenerate(c *call) error {
	var req struct {
		Type   string `json:"type"`
		Length int    `json:"length,omitempty"`
	}
	if err := c.decode(&req); err != nil {
		return err
	}
	if err := c.s.backend.GenerateTLS(c.ctx(), req.Type, req.Length); err != nil {
		return err
	}
	c.s.log.Info("TLS key generated", "type", req.Type, "by", c.user.ID)
	return c.noContent()
}

func handleGetClusterCA(c *call) error {
	ca, err := c.s.backend.ClusterCA(c.ctx())
	if err != nil {
		return err
	}
	return c.pem(ca)
}

func handleSetClusterCA(c *call) error {
	if err := requireType(c.r, typePEM); err != nil {
		return err
	}
	body, err := c.readBody(1 << 20)
	if err != nil {
		return err
	}
	if err := c.s.backend.SetClusterCA(c.ctx(), body); err != nil {
		return err
	}
	c.s.log.Info("cluster CA set", "by", c.user.ID)
	return c.created("/config/tls/cluster-ca.pem", nil)
}

func handleGetTime(c *call) error {
	return c.json(http.StatusOK, map[string]string{"time": c.s.backend.Now().UTC().Format(time.RFC3339)})
}

func handleSetTime(c *call) error {
	var req struct {
		Time string `json:"time"`
	}
	if err := c.decode(&req); err != nil {
		return err
	}
	t, err := parseTime("time", req.Time)
	if err != nil {
		return err
	}
	if err := c.s.backend.SetTime(c.ctx(), t); err != nil {
		return err
	}
	return c.noContent()
}

func handleSystemInfo(c *call) error {
	return c.json(http.StatusOK, c.s.backend.SystemInfo(c.ctx()))
}

func handleReboot(c *call) error {
	c.s.log.Warn("reboot requested", "by", c.user.ID, "remote", clientIP(c.r))
	return c.afterResponse(c.s.backend.Reboot)
}

func handleShutdown(c *call) error {
	c.s.log.Warn("shutdown requested", "by", c.user.ID, "remote", clientIP(c.r))
	return c.afterResponse(c.s.backend.Shutdown)
}

func handleFactoryReset(c *call) error {
	c.s.log.Warn("factory reset requested", "by", c.user.ID, "remote", clientIP(c.r))
	return c.afterResponse(c.s.backend.FactoryReset)
}

// afterResponse asks the backend for a system action; the backend carries it
// out after this response is written (the server drains requests first).
func (c *call) afterResponse(action func(context.Context) error) error {
	if err := action(c.ctx()); err != nil {
		return err
	}
	return c.noContent()
}

func handleGetLogging(c *call) error {
	cfg, err := c.s.backend.Logging(c.ctx())
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, cfg)
}

func handleSetLogging(c *call) error {
	var cfg logfwd.Config
	if err := c.decode(&cfg); err != nil {
		return err
	}
	if err := c.s.backend.SetLogging(c.ctx(), cfg); err != nil {
		return err
	}
	return c.noContent()
}

func handleGetNTP(c *call) error {
	st, err := c.s.backend.NTP(c.ctx())
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, st)
}

func handleSetNTP(c *call) error {
	var cfg timesync.Config
	if err := c.decode(&cfg); err != nil {
		return err
	}
	if err := c.s.backend.SetNTP(c.ctx(), cfg); err != nil {
		return err
	}
	return c.noContent()
}

func handleGetNetwork(c *call) error {
	cfg, err := c.s.backend.Network(c.ctx())
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, cfg)
}

// Try mode bounds (PUT /config/network?try=true&timeout=SECONDS).
const (
	defaultTryTimeout = 60 * time.Second
	minTryTimeout     = 2 * time.Second
	maxTryTimeout     = time.Hour
)

func handleSetNetwork(c *call) error {
	var cfg netcfg.Config
	if err := c.decode(&cfg); err != nil {
		return err
	}
	q := c.r.URL.Query()
	if try := q.Get("try"); try != "true" {
		if try != "" && try != "false" {
			return fmt.Errorf("%w: try must be true or false", ErrBadRequest)
		}
		if err := c.s.backend.SetNetwork(c.ctx(), cfg); err != nil {
			return err
		}
		c.s.log.Warn("network configuration changed", "by", c.user.ID, "config", cfg)
		return c.noContent()
	}
	timeout := defaultTryTimeout
	if v := q.Get("timeout"); v != "" {
		secs, err := strconv.Atoi(v)
		if err != nil || time.Duration(secs)*time.Second < minTryTimeout || time.Duration(secs)*time.Second > maxTryTimeout {
			return fmt.Errorf("%w: timeout must be whole seconds from %d to %d", ErrBadRequest, int(minTryTimeout.Seconds()), int(maxTryTimeout.Seconds()))
		}
		timeout = time.Duration(secs) * time.Second
	}
	id, deadline, err := c.s.backend.TryNetwork(c.ctx(), cfg, timeout)
	if err != nil {
		return err
	}
	c.s.log.Warn("network configuration on trial; it reverts unless confirmed", "by", c.user.ID, "config", cfg, "deadline", deadline)
	return c.json(http.StatusAccepted, map[string]string{"tryId": id, "deadline": deadline.UTC().Format(time.RFC3339)})
}

func handleConfirmNetwork(c *call) error {
	var req struct {
		TryID string `json:"tryId"`
	}
	if err := c.decode(&req); err != nil {
		return err
	}
	if err := c.s.backend.ConfirmNetwork(c.ctx(), req.TryID); err != nil {
		return err
	}
	c.s.log.Warn("network configuration confirmed", "by", c.user.ID)
	return c.noContent()
}
