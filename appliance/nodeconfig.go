package appliance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/keywarden/keywarden/appliance/keyring"
	"github.com/keywarden/keywarden/appliance/tlsconf"
	"github.com/keywarden/keywarden/cluster"
)

// A backup also carries the node-local configuration of the node that took
// it — its TLS identity, log forwarding and NTP servers — so that a
// replacement appliance restored from it answers with the same certificate
// and behaves the same. Node-local values are sealed under their node's
// device key, which never leaves the node, so the backup holds them
// re-sealed under a sub-key of the domain key. A full restore writes them
// into the store under nodeConfigPrefix; the first unlock (the first moment
// the restored node has the domain key) moves them into its own node-local
// store and applies them. The network configuration is left out on
// purpose: the original may still be running, and two appliances on one
// address cut both off.

const (
	nodeConfigPrefix = storeRoot + "restored-node/"
	// purposeNodeConfig is the domain sub-key sealing node-local
	// configuration inside backups.
	purposeNodeConfig = "node-config-transfer"
)

// portableLocal are the node-local entries a backup carries, in key order
// (backups are).
var portableLocal = []string{"logging", "ntp", "tls"}

// portableEntry reports whether k, under nodeConfigPrefix, names one of the
// portable node-local entries.
func portableEntry(k string) bool {
	return slices.Contains(portableLocal, strings.TrimPrefix(k, nodeConfigPrefix))
}

// backupNodeConfig returns this node's portable configuration as backup
// entries, sealed under the domain key of s. A TLS key held in a PKCS#11
// token cannot move and is left out.
func (a *Appliance) backupNodeConfig(ctx context.Context, s *session) ([]cluster.Entry, error) {
	sealer, err := keyring.NewSubSealer(s.domainKey, purposeNodeConfig)
	if err != nil {
		return nil, err
	}
	var out []cluster.Entry
	for _, name := range portableLocal {
		if name == "tls" && a.TLS().External() != "" {
			continue
		}
		it, err := a.local.Get(ctx, a.localPath(name))
		if errors.Is(err, cluster.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		path := nodeConfigPrefix + name
		out = append(out, cluster.Entry{Key: path, Value: sealer.Seal(path, it.Value)})
		clear(it.Value)
	}
	return out, nil
}

// importNodeConfig moves restored node-local configuration into this
// node's own store and applies it. Problems are logged: the unlock has
// happened, and the node keeps its own configuration.
func (a *Appliance) importNodeConfig(ctx context.Context) {
	s := a.currentSession()
	// Only the node a full restore made (alone, and Unprovisioned until
	// then) takes the configuration; a member of a cluster keeps its own
	// identity, which its peers know it by.
	if s == nil || a.peered.Load() {
		return
	}
	entries, err := a.kv.List(ctx, nodeConfigPrefix)
	if err != nil || len(entries) == 0 {
		if err != nil {
			a.log.Warn("restored node configuration not read", "err", err)
		}
		return
	}
	if err := a.applyNodeConfig(ctx, s, entries); err != nil {
		a.log.Warn("restored node configuration not applied; this node keeps its own", "err", err)
		return
	}
	a.log.Info("node configuration from the backup applied", "entries", len(entries))
}

func (a *Appliance) applyNodeConfig(ctx context.Context, s *session, entries []cluster.Entry) error {
	sealer, err := keyring.NewSubSealer(s.domainKey, purposeNodeConfig)
	if err != nil {
		return err
	}
	var ops []cluster.Op
	for _, e := range entries {
		if !portableEntry(e.Key) {
			return fmt.Errorf("unexpected restored node configuration %q", e.Key)
		}
		name := strings.TrimPrefix(e.Key, nodeConfigPrefix)
		plain, err := sealer.Open(e.Key, e.Value)
		if err != nil {
			return err
		}
		if name == "tls" {
			id := new(tlsconf.Identity)
			if err := id.UnmarshalResolve(plain, a.resolveTLSKey(ctx)); err != nil {
				clear(plain)
				return err
			}
		}
		// Moved and removed in one transaction: never both or neither.
		ops = append(ops, a.local.Put(a.localPath(name), plain), cluster.Delete(e.Key))
		clear(plain)
	}
	if _, err := a.kv.Txn(ctx, nil, ops); err != nil {
		return err
	}
	id, err := a.loadTLS(ctx)
	if err != nil {
		return err
	}
	a.setTLS(id)
	if err := a.loadLogging(ctx); err != nil {
		return err
	}
	return a.loadNTP(ctx)
}
