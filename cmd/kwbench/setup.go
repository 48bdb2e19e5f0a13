package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"github.com/keywarden/keywarden/appliance/client"
)

// setupTimeout bounds each setup call; RSA key generation is the slowest.
const setupTimeout = 2 * time.Minute

// adminUser is the administrator that provisioning creates.
const adminUser = "admin"

// target is a ready appliance: an Operator, one key per mechanism and the
// lean client the load phase uses.
type target struct {
	admin  *client.Client
	load   *loadClient
	keys   map[string]benchKey
	userID string
	daemon *daemon // nil with -url
}

// benchKey is a key on the appliance and its parsed public key.
type benchKey struct {
	id  string
	pub any
}

// prepare starts (or reaches) the appliance and creates what the benchmark
// needs. On error it undoes what it did.
func prepare(ctx context.Context, cfg config, log *slog.Logger) (t *target, err error) {
	t = &target{keys: map[string]benchKey{}}
	opts, cfg, err := t.reach(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			t.close(log)
		}
	}()
	c, err := client.New(opts)
	if err != nil {
		return nil, err
	}
	if err := makeOperational(ctx, c, cfg, log); err != nil {
		return nil, err
	}
	t.admin = c.WithCredentials(adminUser, cfg.adminPass)
	opPass := randomPass()
	if err := t.createOperator(ctx, opPass, log); err != nil {
		return nil, err
	}
	if err := t.createKeys(ctx, cfg.mechs, c.WithCredentials(t.userID, opPass), log); err != nil {
		return nil, err
	}
	t.load, err = newLoadClient(opts, t.userID, opPass, cfg.conns)
	return t, err
}

// reach returns the client options for the appliance of -url, or starts a
// daemon and returns its options and cfg with fresh passphrases for it.
func (t *target) reach(ctx context.Context, cfg config, log *slog.Logger) (client.Options, config, error) {
	opts := client.Options{URL: cfg.url, CACertPEM: cfg.caCert, Insecure: cfg.insecure, Timeout: setupTimeout}
	if cfg.url != "" {
		return opts, cfg, nil
	}
	log.Info("starting keywardend", "binary", cfg.daemon)
	var err error
	if t.daemon, opts.CACertPEM, err = startDaemon(ctx, cfg.daemon); err != nil {
		return opts, cfg, err
	}
	opts.URL = t.daemon.url()
	cfg.adminPass, cfg.unlockPass = randomPass(), randomPass()
	return opts, cfg, nil
}

// makeOperational provisions or unlocks the appliance when needed.
func makeOperational(ctx context.Context, c *client.Client, cfg config, log *slog.Logger) error {
	st, err := c.State(ctx)
	if err != nil {
		return fmt.Errorf("read appliance state: %w", err)
	}
	switch st {
	case client.StateOperational:
		return nil
	case client.StateUnprovisioned:
		if cfg.unlockPass == "" {
			return fmt.Errorf("the appliance is Unprovisioned; set $%s to provision it", envUnlockPass)
		}
		log.Info("provisioning the appliance")
		err = c.Provision(ctx, client.ProvisionRequest{UnlockPassphrase: cfg.unlockPass, AdminPassphrase: cfg.adminPass})
	case client.StateLocked:
		log.Info("unlocking the appliance")
		err = c.Unlock(ctx, cfg.unlockPass)
	default:
		return fmt.Errorf("the appliance is %s, want Operational", st)
	}
	if err != nil {
		return fmt.Errorf("make the appliance operational: %w", err)
	}
	return nil
}

// createOperator adds an Operator with a random name, so that runs against a
// shared appliance do not collide.
func (t *target) createOperator(ctx context.Context, pass string, log *slog.Logger) error {
	id := "kwbench" + randomHex(4)
	err := t.admin.AddUser(ctx, id, client.NewUser{RealName: "kwbench load generator", Role: client.RoleOperator, Passphrase: pass})
	if err != nil {
		return fmt.Errorf("create operator %s: %w", id, err)
	}
	t.userID = id
	log.Info("operator created", "user", id)
	return nil
}

// createKeys generates one key per mechanism and fetches its public key
// as the Operator.
func (t *target) createKeys(ctx context.Context, mechs []*mechanism, op *client.Client, log *slog.Logger) error {
	for _, m := range mechs {
		req := m.gen
		req.ID = t.userID + m.name
		start := time.Now()
		id, err := t.admin.GenerateKey(ctx, req)
		if err != nil {
			return fmt.Errorf("generate %s key: %w", m.name, err)
		}
		t.keys[m.name] = benchKey{id: id}
		pemBytes, err := op.KeyPublicPEM(ctx, id)
		if err != nil {
			return fmt.Errorf("get public key of %s: %w", id, err)
		}
		pub, err := parsePublicPEM(pemBytes)
		if err != nil {
			return fmt.Errorf("key %s: %w", id, err)
		}
		t.keys[m.name] = benchKey{id: id, pub: pub}
		log.Info("key generated", "key", id, "took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// close removes what prepare created on a shared appliance, or stops the
// daemon kwbench started. It is idempotent. The load client holds no
// connections between phases, so there is nothing to close there.
func (t *target) close(log *slog.Logger) {
	if t.daemon != nil {
		t.daemon.stop()
		return
	}
	if t.admin == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	for name, k := range t.keys {
		if err := t.admin.DeleteKey(ctx, k.id); err != nil {
			log.Warn("cleanup: delete key", "mechanism", name, "key", k.id, "err", err)
		}
	}
	clear(t.keys)
	if t.userID != "" {
		if err := t.admin.DeleteUser(ctx, t.userID); err != nil {
			log.Warn("cleanup: delete operator", "user", t.userID, "err", err)
		}
		t.userID = ""
	}
}

// daemonPID is the process ID of the daemon kwbench started, or 0.
func (t *target) daemonPID() int {
	if t.daemon == nil {
		return 0
	}
	return t.daemon.pid()
}

// window returns a window that measures the CPU use of kwbench, the daemon
// and the machine.
func (t *target) window() window {
	pid := t.daemonPID()
	return func() func() cpuDelta {
		before := sampleCPU(pid)
		return func() cpuDelta { return sampleCPU(pid).since(before) }
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b)
}

// randomPass returns a random passphrase well above the 10-character minimum.
func randomPass() string { return randomHex(16) }
