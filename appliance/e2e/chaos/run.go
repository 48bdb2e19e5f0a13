package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Result is what a chaos run did. Check its History with [Check] and
// [CheckLostWrites].
type Result struct {
	// History holds every client operation and, as annotations, every
	// outage.
	History *History
	// Keys are the key IDs the clients used; list them on every node at the
	// end for [CheckLostWrites], and delete them when done.
	Keys []string
	// Kills and Restarts count the nemesis' successful actions.
	Kills, Restarts int

	counts [numOpKinds][numOutcomes]int
}

// Count is how many operations of kind ended with out.
func (r *Result) Count(kind OpKind, out Outcome) int {
	if kind < 0 || kind >= numOpKinds || out < 0 || out >= numOutcomes {
		return 0
	}
	return r.counts[kind][out]
}

// String summarises the run for the test log, e.g.
// "create ok=10 exists=4 unknown=1; delete ...; kills=3 restarts=3".
func (r *Result) String() string {
	var parts []string
	for k := range numOpKinds {
		var outs []string
		for o := range numOutcomes {
			if n := r.counts[k][o]; n > 0 {
				outs = append(outs, fmt.Sprintf("%v=%d", o, n))
			}
		}
		parts = append(parts, fmt.Sprintf("%v %s", k, strings.Join(outs, " ")))
	}
	return fmt.Sprintf("%s; kills=%d restarts=%d", strings.Join(parts, "; "), r.Kills, r.Restarts)
}

// runner is the state one Run shares between its clients and its nemesis.
type runner struct {
	cfg  Config
	hist *History
	keys []string

	mu     sync.Mutex
	up     []bool // which nodes clients may use; guarded by mu
	res    *Result
	errs   []error
	counts [numOpKinds][numOutcomes]int
}

// Run drives cfg.Clients concurrent clients against cfg.Nodes for
// cfg.Duration while a nemesis kills a random node every cfg.KillEvery and
// restarts it after a while, never keeping more than cfg.MaxDown down.
//
// Each client loops: pick a node that is up, a key from the small key space
// and an operation (create, delete or use), all at random, and record the
// operation in the history. Run returns once the clients have stopped and
// every killed node has been restarted, so the cluster can be inspected.
//
// Cancelling ctx ends the run early; operations then cut short are recorded
// as Unknown. The error reports an invalid config ([ErrInvalidConfig]) or
// nemesis failures (a Kill or Restart that failed; a node that did not come
// back is a finding in itself). Whenever the run started, the Result is
// returned alongside the error so the history can still be checked.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("chaos run: %w", err)
	}
	cfg = cfg.withDefaults()
	r := &runner{cfg: cfg, hist: NewHistory(cfg.UnknownHorizon), up: make([]bool, len(cfg.Nodes))}
	for i := range r.up {
		r.up[i] = true
	}
	for i := range cfg.Keys {
		r.keys = append(r.keys, cfg.KeyPrefix+strconv.Itoa(i))
	}
	r.res = &Result{History: r.hist, Keys: r.keys}
	cfg.Log("chaos: seed %d, %d nodes, %d clients, %d keys %s0..%d, %v, kill every %v (max %d down)",
		cfg.Seed, len(cfg.Nodes), cfg.Clients, cfg.Keys, cfg.KeyPrefix, cfg.Keys-1, cfg.Duration, cfg.KillEvery, cfg.MaxDown)

	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var wg sync.WaitGroup
	for c := range cfg.Clients {
		wg.Go(func() { r.client(runCtx, ctx, c) })
	}
	if cfg.nemesisOn() {
		wg.Go(func() { r.nemesis(runCtx, ctx) })
	}
	wg.Wait()

	r.res.counts = r.counts
	cfg.Log("chaos: done: %v", r.res)
	if err := errors.Join(r.errs...); err != nil {
		return r.res, fmt.Errorf("chaos run: %w", err)
	}
	return r.res, nil
}

// rng gives each goroutine its own reproducible stream of the run's seed.
func (r *runner) rng(stream int) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(r.cfg.Seed), uint64(stream)))
}

// client issues operations until runCtx ends. Requests run under opCtx (the
// caller's context, not the run's) so that the run's end lets operations in
// flight finish instead of turning them into Unknowns.
func (r *runner) client(runCtx, opCtx context.Context, id int) {
	rng := r.rng(id)
	var counts [numOpKinds][numOutcomes]int
	for runCtx.Err() == nil {
		node := r.pickNode(rng)
		in := Input{Kind: OpKind(rng.IntN(int(numOpKinds))), Key: r.keys[rng.IntN(len(r.keys))]}
		h := r.hist.Begin(id, node, in)
		out := r.do(opCtx, node, in)
		r.hist.End(h, out)
		if out >= 0 && out < numOutcomes {
			counts[in.Kind][out]++
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := range counts {
		for o := range counts[k] {
			r.counts[k][o] += counts[k][o]
		}
	}
}

// do sends one operation to one node within the per-operation timeout.
func (r *runner) do(ctx context.Context, node int, in Input) Outcome {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.OpTimeout)
	defer cancel()
	n := r.cfg.Nodes[node]
	switch in.Kind {
	case Create:
		return n.Create(ctx, in.Key)
	case Delete:
		return n.Delete(ctx, in.Key)
	default:
		return n.Use(ctx, in.Key)
	}
}

// pickNode chooses a random node that is up. MaxDown < len(Nodes) keeps at
// least one up; should that ever not hold, any node will do and the
// operation simply ends Unknown.
func (r *runner) pickNode(rng *rand.Rand) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	up := r.upNodes()
	if len(up) == 0 {
		return rng.IntN(len(r.up))
	}
	return up[rng.IntN(len(up))]
}

// upNodes lists the nodes clients may use. The caller holds r.mu.
func (r *runner) upNodes() []int {
	var up []int
	for i, u := range r.up {
		if u {
			up = append(up, i)
		}
	}
	return up
}

// fail records a nemesis failure for Run's error.
func (r *runner) fail(err error) {
	r.cfg.Log("chaos: %v", err)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, err)
}

// waitOrDone sleeps for d, or less if ctx ends first. It paces the nemesis;
// nothing is asserted on it.
func waitOrDone(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
