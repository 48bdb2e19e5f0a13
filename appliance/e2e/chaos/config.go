package chaos

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ErrInvalidConfig is wrapped by every problem [Config.Validate] reports.
var ErrInvalidConfig = errors.New("invalid chaos config")

// Defaults for the optional Config fields.
const (
	// DefaultOpTimeout bounds one client request; long enough for an etcd
	// election after a kill, short enough that a hung node shows up as
	// Unknown outcomes rather than a hung test.
	DefaultOpTimeout = 10 * time.Second
	// DefaultRestartTimeout bounds one Node.Restart, which includes waiting
	// for the node to rejoin and serve.
	DefaultRestartTimeout = 2 * time.Minute
)

// Node is one cluster member as the chaos run sees it. The e2e test
// implements it over the HTTP API and an apptest daemon; every method may be
// called from several goroutines at once.
type Node interface {
	// Create generates a key with the given ID on this node: OK, Exists
	// (409) or Unknown (5xx, timeout, connection error).
	Create(ctx context.Context, id string) Outcome
	// Delete removes the key: OK, NotFound (404) or Unknown.
	Delete(ctx context.Context, id string) Outcome
	// Use signs with the key: OK, NotFound (404) or Unknown.
	Use(ctx context.Context, id string) Outcome
	// Kill stops the node abruptly (SIGKILL), so that nothing it had not
	// made durable survives.
	Kill() error
	// Restart starts the node again and returns once it serves the API,
	// unlocking it if the appliance needs that after a boot.
	Restart(ctx context.Context) error
}

// Config describes one chaos run. Nodes, Clients, Duration and Keys are
// required; the rest have defaults.
type Config struct {
	// Nodes are the cluster members; clients spread their operations over
	// all nodes that are up.
	Nodes []Node
	// Clients is how many concurrent clients issue operations.
	Clients int
	// Duration bounds the run: no operation starts after it, and operations
	// in flight are allowed to finish (each within OpTimeout).
	Duration time.Duration
	// Keys is the size of the key ID space. Keep it small (a handful per
	// client) so that operations on the same key collide.
	Keys int
	// KeyPrefix starts every key ID; the IDs are KeyPrefix followed by a
	// decimal index. It must make the IDs fresh (the model assumes every key
	// starts absent) and valid for the API (alphanumeric). Default: "chaos",
	// a per-run nonce and "k".
	KeyPrefix string
	// OpTimeout bounds each client operation. Default DefaultOpTimeout.
	OpTimeout time.Duration
	// KillEvery is how often the nemesis tries to kill a node; zero turns
	// the nemesis off.
	KillEvery time.Duration
	// DownFor is the longest a killed node stays down before its restart
	// begins; each outage lasts a random time between half of it and all of
	// it. Default KillEvery.
	DownFor time.Duration
	// MaxDown caps how many nodes are down at once, so that a quorum stays
	// up (1 for three nodes, 2 for five). Zero turns the nemesis off. It
	// must be less than len(Nodes) so that clients always have a node.
	MaxDown int
	// RestartTimeout bounds one Node.Restart. Default DefaultRestartTimeout.
	RestartTimeout time.Duration
	// UnknownHorizon bounds how long after its client gave up an Unknown
	// create or delete may still take effect; zero assumes no bound. See
	// NewHistory for the trade-off.
	UnknownHorizon time.Duration
	// Seed makes the clients' and the nemesis' choices reproducible (the
	// timing of a real cluster is not). Log it.
	Seed int64
	// Log, if set, receives one line per nemesis action and a summary.
	Log func(format string, args ...any)
}

// Validate reports every problem with c at once, each wrapping
// [ErrInvalidConfig]. It has no side effects.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	if len(c.Nodes) == 0 {
		bad("no nodes")
	}
	for i, n := range c.Nodes {
		if n == nil {
			bad("node %d is nil", i)
		}
	}
	if c.Clients < 1 {
		bad("clients %d, want at least 1", c.Clients)
	}
	if c.Duration <= 0 {
		bad("duration %v, want more than 0", c.Duration)
	}
	if c.Keys < 1 {
		bad("keys %d, want at least 1", c.Keys)
	}
	if c.MaxDown < 0 || (len(c.Nodes) > 0 && c.MaxDown >= len(c.Nodes)) {
		bad("max down %d, want 0 to %d for %d nodes", c.MaxDown, len(c.Nodes)-1, len(c.Nodes))
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{{"kill every", c.KillEvery}, {"down for", c.DownFor}, {"op timeout", c.OpTimeout},
		{"restart timeout", c.RestartTimeout}, {"unknown horizon", c.UnknownHorizon}} {
		if d.d < 0 {
			bad("%s %v is negative", d.name, d.d)
		}
	}
	return errors.Join(errs...)
}

// withDefaults fills the optional fields.
func (c Config) withDefaults() Config {
	if c.KeyPrefix == "" {
		c.KeyPrefix = "chaos" + strconv.FormatInt(time.Now().UnixNano(), 36) + "k"
	}
	if c.OpTimeout == 0 {
		c.OpTimeout = DefaultOpTimeout
	}
	if c.DownFor == 0 {
		c.DownFor = c.KillEvery
	}
	if c.RestartTimeout == 0 {
		c.RestartTimeout = DefaultRestartTimeout
	}
	if c.Log == nil {
		c.Log = func(string, ...any) {}
	}
	return c
}

// nemesisOn reports whether the run kills nodes at all.
func (c Config) nemesisOn() bool {
	return c.KillEvery > 0 && c.MaxDown > 0
}
