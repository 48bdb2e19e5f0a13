package e2e

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keywarden/keywarden/appliance/apptest"
	"github.com/keywarden/keywarden/appliance/client"
	"github.com/keywarden/keywarden/appliance/e2e/chaos"
)

// chaosDuration is the bounded run of `make test`; `make chaos` sets
// KEYWARDEN_CHAOS_DURATION for a longer one.
func chaosDuration(t *testing.T) time.Duration {
	if s := os.Getenv("KEYWARDEN_CHAOS_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("KEYWARDEN_CHAOS_DURATION: %v", err)
		}
		return d
	}
	return 60 * time.Second
}

// TestChaos runs concurrent clients creating, deleting and using keys on
// every node of a three-appliance cluster while a nemesis kills (SIGKILL) and
// restarts nodes at random, then checks the recorded history with porcupine
// (linearizable) and the final key sets of every node (no acknowledged write
// lost, no acknowledged delete undone, all nodes agree).
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos run skipped in -short mode")
	}
	c := formCluster(t, 3)
	ctx := apptest.Context(t)
	if err := c.nodes[0].admin(t).AddUser(ctx, "op1", client.NewUser{RealName: "Op", Role: "Operator", Passphrase: operatorPass}); err != nil {
		t.Fatal(err)
	}
	nodes := make([]chaos.Node, len(c.nodes))
	for i, n := range c.nodes {
		nodes[i] = &chaosNode{n: n, admin: n.admin(t), op: n.Client("op1", operatorPass), anon: n.Client("", "")}
	}
	cfg := chaos.Config{
		Nodes:     nodes,
		Clients:   6,
		Duration:  chaosDuration(t),
		Keys:      8,
		KeyPrefix: "chaos",
		OpTimeout: 15 * time.Second,
		KillEvery: 12 * time.Second,
		DownFor:   3 * time.Second,
		MaxDown:   1,
		// The store gives up on a write after its own deadline (8 s) and a
		// proposal cannot commit after a new leader took over (about 1 s):
		// an operation whose answer was lost takes effect within this.
		UnknownHorizon: 15 * time.Second,
		Seed:           time.Now().UnixNano(),
		Log:            t.Logf,
	}
	runCtx, cancel := context.WithTimeout(context.Background(), cfg.Duration+5*time.Minute)
	defer cancel()
	res, err := chaos.Run(runCtx, cfg)
	if err != nil {
		t.Fatalf("chaos run (seed %d): %v", cfg.Seed, err)
	}
	t.Logf("chaos run (seed %d): %v", cfg.Seed, res)
	if res.Kills == 0 || res.Count(chaos.Create, chaos.OK) == 0 || res.Count(chaos.Use, chaos.OK) == 0 {
		t.Fatalf("the run exercised too little to mean anything: %v", res)
	}

	ops := res.History.Operations()
	ok, info, err := chaos.Check(ops, 2*time.Minute)
	if err != nil || !ok {
		path := filepath.Join(t.TempDir(), "chaos.html")
		if verr := chaos.Visualize(path, info, res.History.Annotations()); verr == nil {
			t.Logf("history visualisation: %s", path)
		}
		t.Fatalf("history of %d operations is not linearizable (seed %d): %v", len(ops), cfg.Seed, err)
	}

	final := make([][]string, len(c.nodes))
	for i, n := range c.nodes {
		waitStateWithin(t, n.Daemon, "Operational", time.Minute)
		ids, err := n.admin(t).Keys(apptest.Context(t), client.KeyListOptions{})
		if err != nil {
			t.Fatalf("list keys on node %d: %v", i+1, err)
		}
		final[i] = ids
	}
	findings, err := chaos.CheckLostWrites(ops, final)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range findings {
		t.Errorf("durability: %v", f)
	}
}

// chaosNode drives one appliance for the chaos run over its real API.
type chaosNode struct {
	n               *node
	admin, op, anon *client.Client
}

func outcome(err error, absent int) chaos.Outcome {
	switch client.StatusCode(err) {
	case 0:
		if err == nil {
			return chaos.OK
		}
	case http.StatusConflict:
		return chaos.Exists
	case absent:
		return chaos.NotFound
	}
	return chaos.Unknown
}

func (c *chaosNode) Create(ctx context.Context, id string) chaos.Outcome {
	_, err := c.admin.GenerateKey(ctx, client.KeyGenerateRequest{ID: id, Type: "EC_P256", Mechanisms: []client.KeyMechanism{"ECDSA_Signature"}})
	return outcome(err, -1)
}

func (c *chaosNode) Delete(ctx context.Context, id string) chaos.Outcome {
	err := c.admin.DeleteKey(ctx, id)
	if client.StatusCode(err) == http.StatusConflict {
		// A concurrent change of the key refused the delete: it did
		// nothing, which the model can only express as an unknown outcome.
		return chaos.Unknown
	}
	return outcome(err, http.StatusNotFound)
}

func (c *chaosNode) Use(ctx context.Context, id string) chaos.Outcome {
	digest := sha256.Sum256([]byte(id))
	_, err := c.op.Sign(ctx, id, client.SignRequest{Mode: "ECDSA", Message: digest[:]})
	return outcome(err, http.StatusNotFound)
}

func (c *chaosNode) Kill() error {
	c.n.Kill()
	return nil
}

// Restart starts the node again and unlocks it once it has found its
// cluster (it may first report Failed while it waits for the store).
func (c *chaosNode) Restart(ctx context.Context) error {
	c.n.StartNoWait()
	for {
		st, err := c.anon.State(ctx)
		switch {
		case err == nil && st == "Operational":
			return nil
		case err == nil && st == "Locked":
			switch err := c.anon.Unlock(ctx, unlockPass); client.StatusCode(err) {
			case 0, http.StatusPreconditionFailed, http.StatusServiceUnavailable:
				// unlocked, or not yet possible: the store is still catching up
				if err != nil && client.StatusCode(err) == 0 {
					return fmt.Errorf("unlock node %s: %w", c.n.peer, err)
				}
			default:
				return fmt.Errorf("unlock node %s: %w", c.n.peer, err)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s did not come back: state %q: %w", c.n.peer, st, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
