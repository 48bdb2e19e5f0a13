package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// nemesis kills a random up node every KillEvery while fewer than MaxDown
// are down, and restarts each after a random outage. It returns once runCtx
// has ended and every outage it caused is over, so that Run hands back a
// whole cluster. Restarts run under ctx, not runCtx: the run's end cuts
// outages short but must not abort the restarts that end them.
func (r *runner) nemesis(runCtx, ctx context.Context) {
	rng := r.rng(r.cfg.Clients) // the stream after the clients'
	var outages sync.WaitGroup
	defer outages.Wait()
	tick := time.NewTicker(r.cfg.KillEvery)
	defer tick.Stop()
	for {
		select {
		case <-runCtx.Done():
			return
		case <-tick.C:
		}
		node, ok := r.takeDown(rng)
		if !ok {
			continue
		}
		killed := r.hist.Now()
		if err := r.cfg.Nodes[node].Kill(); err != nil {
			r.fail(fmt.Errorf("kill node %d: %w", node, err))
			r.setUp(node)
			continue
		}
		r.cfg.Log("chaos: killed node %d", node)
		r.mu.Lock()
		r.res.Kills++
		r.mu.Unlock()
		outage := r.cfg.DownFor/2 + time.Duration(rng.Int64N(int64(r.cfg.DownFor/2)+1))
		outages.Go(func() {
			waitOrDone(runCtx, outage)
			r.restart(ctx, node, killed)
		})
	}
}

// takeDown marks a random up node down, before it is killed, so that no new
// client operation goes to it; operations already in flight end Unknown,
// which is the point. It refuses when MaxDown nodes are already down
// (counting nodes whose restart failed).
func (r *runner) takeDown(rng *rand.Rand) (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	up := r.upNodes()
	if len(r.up)-len(up) >= r.cfg.MaxDown || len(up) == 0 {
		return 0, false
	}
	node := up[rng.IntN(len(up))]
	r.up[node] = false
	return node, true
}

// restart brings a killed node back and, once it serves, lets clients use it
// again. A node that fails to restart stays down and counts against MaxDown
// for the rest of the run.
func (r *runner) restart(ctx context.Context, node int, killed int64) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.RestartTimeout)
	defer cancel()
	err := r.cfg.Nodes[node].Restart(ctx)
	details := "killed, then restarted"
	if err != nil {
		details = fmt.Sprintf("killed; restart failed: %v", err)
	}
	r.hist.Annotate(porcupine.Annotation{
		Tag: fmt.Sprintf("node %d", node), Start: killed, End: r.hist.Now(),
		Description: "down", Details: details, BackgroundColor: "#f4c7c3",
	})
	if err != nil {
		r.fail(fmt.Errorf("restart node %d: %w", node, err))
		return
	}
	r.cfg.Log("chaos: restarted node %d", node)
	r.setUp(node)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.res.Restarts++
}

// setUp lets clients use node again.
func (r *runner) setUp(node int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.up[node] = true
}
