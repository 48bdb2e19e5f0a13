package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"

	"github.com/keywarden/keywarden/appliance/client"
)

// unlockSource is where the unlock passphrase comes from.
func unlockSource(file string) secretSource {
	return secretSource{what: "unlock passphrase", flag: "unlock-passphrase-file", file: file, env: "KEYWARDEN_UNLOCK_PASSPHRASE"}
}

func cmdProvision(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags()
	unlockFile := fs.String("unlock-passphrase-file", "", "read the unlock passphrase from `FILE` (else env KEYWARDEN_UNLOCK_PASSPHRASE)")
	adminFile := fs.String("admin-passphrase-file", "", "read the admin passphrase from `FILE` (else env KEYWARDEN_ADMIN_PASSPHRASE)")
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	unlock, err := a.secret(unlockSource(*unlockFile))
	if err != nil {
		return err
	}
	admin, err := a.secret(secretSource{what: "admin passphrase", flag: "admin-passphrase-file", file: *adminFile, env: "KEYWARDEN_ADMIN_PASSPHRASE"})
	if err != nil {
		return err
	}
	c, err := a.client(false)
	if err != nil {
		return err
	}
	req := client.ProvisionRequest{UnlockPassphrase: unlock, AdminPassphrase: admin, SystemTime: a.now()}
	if err := c.Provision(ctx, req); err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	return a.done("provisioned; the appliance is Operational, log in as user admin")
}

func cmdUnlock(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags()
	file := fs.String("unlock-passphrase-file", "", "read the unlock passphrase from `FILE` (else env KEYWARDEN_UNLOCK_PASSPHRASE)")
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	pass, err := a.secret(unlockSource(*file))
	if err != nil {
		return err
	}
	c, err := a.client(false)
	if err != nil {
		return err
	}
	if err := c.Unlock(ctx, pass); err != nil {
		return fmt.Errorf("unlock: %w", err)
	}
	return a.done("unlocked")
}

func cmdLock(ctx context.Context, a *app, args []string) error {
	c, _, err := a.start(args, 0, 0, true)
	if err != nil {
		return err
	}
	if err := c.Lock(ctx); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	return a.done("locked")
}

func cmdState(ctx context.Context, a *app, args []string) error {
	c, _, err := a.start(args, 0, 0, false)
	if err != nil {
		return err
	}
	state, err := c.State(ctx)
	if err != nil {
		return fmt.Errorf("get state: %w", err)
	}
	return a.emit(map[string]client.SystemState{"state": state}, func(w io.Writer) { fmt.Fprintln(w, state) })
}

func cmdInfo(ctx context.Context, a *app, args []string) error {
	c, _, err := a.start(args, 0, 0, false)
	if err != nil {
		return err
	}
	info, err := c.Info(ctx)
	if err != nil {
		return fmt.Errorf("get info: %w", err)
	}
	return a.emit(info, func(w io.Writer) { fmt.Fprintf(w, "vendor:  %s\nproduct: %s\n", info.Vendor, info.Product) })
}

func cmdRandom(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags()
	out := fs.String("out", "", "write the raw bytes to `FILE`")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(pos[0])
	if err != nil || n < 1 {
		return usagef("random: LENGTH must be a positive number, got %q", pos[0])
	}
	c, err := a.client(true)
	if err != nil {
		return err
	}
	b, err := c.Random(ctx, n)
	if err != nil {
		return fmt.Errorf("get random bytes: %w", err)
	}
	return a.emitBytes("random", b, *out)
}

func cmdMetrics(ctx context.Context, a *app, args []string) error {
	c, _, err := a.start(args, 0, 0, true)
	if err != nil {
		return err
	}
	m, err := c.Metrics(ctx)
	if err != nil {
		return fmt.Errorf("get metrics: %w", err)
	}
	return a.emit(m, func(w io.Writer) {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			v, _ := json.Marshal(m[k]) // integers stay integers, unlike %v of a float64
			fmt.Fprintf(w, "%s %s\n", k, v)
		}
	})
}

// start is the common opening of a command without flags of its own: parse
// the arguments, then build the client.
func (a *app) start(args []string, minArgs, maxArgs int, auth bool) (*client.Client, []string, error) {
	pos, err := a.parse(a.newFlags(), args, minArgs, maxArgs)
	if err != nil {
		return nil, nil, err
	}
	c, err := a.client(auth)
	return c, pos, err
}
