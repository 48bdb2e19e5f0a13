package api

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"time"
)

func handleInfo(c *call) error {
	return c.json(http.StatusOK, map[string]string{"vendor": "Keywarden project", "product": "Keywarden"})
}

func handleEmpty(c *call) error {
	c.w.WriteHeader(http.StatusOK)
	return nil
}

// stateResponse is the body of /health/state; Reason is a Keywarden
// extension that says why the appliance is Failed (or stayed Locked).
type stateResponse struct {
	State  State  `json:"state"`
	Reason string `json:"reason,omitempty"`
}

func handleState(c *call) error {
	st, reason := c.s.backend.State()
	return c.json(http.StatusOK, stateResponse{State: st, Reason: reason})
}

type provisionRequest struct {
	UnlockPassphrase string `json:"unlockPassphrase"`
	AdminPassphrase  string `json:"adminPassphrase"`
	SystemTime       string `json:"systemTime"`
}

func handleDiagnose(c *call) error {
	return c.json(http.StatusOK, c.s.backend.Diagnose())
}

func handleProvision(c *call) error {
	var req provisionRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	if err := passphrase("unlockPassphrase", req.UnlockPassphrase); err != nil {
		return err
	}
	if err := passphrase("adminPassphrase", req.AdminPassphrase); err != nil {
		return err
	}
	t, err := parseTime("systemTime", req.SystemTime)
	if err != nil {
		return err
	}
	if err := c.s.backend.Provision(c.ctx(), req.UnlockPassphrase, req.AdminPassphrase, t); err != nil {
		return err
	}
	return c.noContent()
}

func handleUnlock(c *call) error {
	var req struct {
		Passphrase string `json:"passphrase"`
	}
	if err := c.decode(&req); err != nil {
		return err
	}
	if err := passphrase("passphrase", req.Passphrase); err != nil {
		return err
	}
	ip := clientIP(c.r)
	if !c.s.limiter.take(ip) {
		return fail(http.StatusTooManyRequests, "too many failed unlock attempts from this address; wait and retry")
	}
	err := c.s.backend.Unlock(c.ctx(), req.Passphrase)
	if statusOf(err) != http.StatusForbidden {
		c.s.limiter.refund(ip)
	}
	if err != nil {
		if statusOf(err) == http.StatusForbidden {
			c.s.log.Warn("unlock failed: wrong passphrase", "remote", ip)
		}
		return err
	}
	return c.noContent()
}

func handleLock(c *call) error {
	if err := c.s.backend.Lock(c.ctx()); err != nil {
		return err
	}
	return c.noContent()
}

func handleRandom(c *call) error {
	var req struct {
		Length *int `json:"length"`
	}
	if err := c.decode(&req); err != nil {
		return err
	}
	if req.Length == nil || *req.Length < 1 || *req.Length > 1024 {
		return fmt.Errorf("%w: length must be between 1 and 1024", ErrBadRequest)
	}
	buf := make([]byte, *req.Length)
	_, _ = rand.Read(buf)
	return c.json(http.StatusOK, map[string]string{"random": b64.EncodeToString(buf)})
}

func handleMetrics(c *call) error {
	m := c.s.backend.Metrics()
	req, failures := c.s.Counters()
	m["httpRequests"] = req
	m["httpFailures"] = failures
	return c.json(http.StatusOK, m)
}

// passphrase checks the reference's minimum passphrase length.
func passphrase(field, p string) error {
	if len(p) < 10 {
		return fmt.Errorf("%w: %s must be at least 10 characters", ErrBadRequest, field)
	}
	return nil
}

func parseTime(field, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %s must be an RFC 3339 date-time such as 2025-01-31T12:00:00Z", ErrBadRequest, field)
	}
	return t, nil
}
