package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

const (
	// inputCount distinct inputs are signed in turn, so that nothing on
	// the way can answer from a cache.
	inputCount = 64
	// warmupRequests per worker open the connection, fill the appliance's
	// credential cache and check the first signature before timing starts.
	warmupRequests = 3
	// Every sampleEvery-th signature, up to maxSamples per worker, is kept
	// and verified after the timed window, where it costs nothing.
	sampleEvery = 50
	maxSamples  = 200
)

// apiRun is the outcome of the API phase.
type apiRun struct {
	ops       int
	elapsed   time.Duration
	latencies []time.Duration
	verified  int
	cpu       cpuDelta // during the timed windows
}

// sample is one signature kept for verification.
type sample struct {
	input int
	sig   []byte
}

// apiWorker is one keep-alive client with one request in flight.
type apiWorker struct {
	ctx     context.Context
	sc      *signConn
	wires   [][]byte // one prebuilt request per input
	next    int      // index of the next input
	sig     []byte
	lat     []time.Duration
	samples []sample
}

// window brackets a timed window: it is called when the window opens and
// returns the function that closes it and reports the CPU used meanwhile.
type window func() (closeWindow func() cpuDelta)

// apiBench drives the sign endpoint of one key with its workers, over one
// or more timed windows.
type apiBench struct {
	m       *mechanism
	key     benchKey
	inputs  [][]byte
	workers []*apiWorker
	cancel  context.CancelFunc
	run     apiRun
}

// newAPIBench connects conns workers and warms them up. The caller must
// call close.
func newAPIBench(ctx context.Context, lc *loadClient, m *mechanism, key benchKey, conns int) (*apiBench, error) {
	inputs, bodies, err := makeInputs(m)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	b := &apiBench{m: m, key: key, inputs: inputs, cancel: cancel}
	b.workers = newWorkers(ctx, lc, key, bodies, conns)
	if err := b.parallel(func(w *apiWorker) error { return w.warmup(m, key, inputs) }); err != nil {
		b.close()
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	return b, nil
}

// slice signs for d in one timed window.
func (b *apiBench) slice(d time.Duration, open window) error {
	closeWindow := open()
	start := time.Now()
	deadline := start.Add(d)
	err := b.parallel(func(w *apiWorker) error { return w.run(deadline) })
	b.run.elapsed += time.Since(start)
	b.run.cpu = b.run.cpu.add(closeWindow())
	return err
}

// finish verifies the sampled signatures and returns the totals.
func (b *apiBench) finish() (apiRun, error) {
	run := b.run
	for _, w := range b.workers {
		run.ops += len(w.lat)
		run.latencies = append(run.latencies, w.lat...)
		if err := w.verify(b.m, b.key, b.inputs); err != nil {
			return run, err
		}
		run.verified += len(w.samples)
	}
	return run, nil
}

// close closes the workers' connections. It is idempotent.
func (b *apiBench) close() {
	b.cancel()
	for _, w := range b.workers {
		w.sc.close()
	}
}

// newWorkers returns conns workers, each with its own connection, starting
// at different inputs so that they do not march in step.
func newWorkers(ctx context.Context, lc *loadClient, key benchKey, bodies [][]byte, conns int) []*apiWorker {
	wires := make([][]byte, len(bodies))
	for i, b := range bodies {
		wires[i] = lc.wireRequest(key.id, b)
	}
	workers := make([]*apiWorker, conns)
	for i := range workers {
		workers[i] = &apiWorker{ctx: ctx, sc: lc.newConn(), wires: wires, next: i * len(bodies) / conns,
			lat: make([]time.Duration, 0, 1<<14)}
	}
	return workers
}

// makeInputs returns inputCount random inputs for m and their request bodies.
func makeInputs(m *mechanism) (inputs, bodies [][]byte, err error) {
	inputs, bodies = make([][]byte, inputCount), make([][]byte, inputCount)
	for i := range inputs {
		random := make([]byte, 32)
		_, _ = rand.Read(random) // crypto/rand.Read never fails on Linux
		inputs[i] = m.input(random)
		bodies[i], err = json.Marshal(struct {
			Mode    string `json:"mode"`
			Message []byte `json:"message"`
		}{string(m.mode), inputs[i]})
		if err != nil {
			return nil, nil, fmt.Errorf("encode sign request: %w", err)
		}
	}
	return inputs, bodies, nil
}

// parallel runs f on every worker at once and returns the first error; the
// first error also cancels the other workers.
func (b *apiBench) parallel(f func(*apiWorker) error) error {
	var wg sync.WaitGroup
	errs := make([]error, len(b.workers))
	for i, w := range b.workers {
		wg.Go(func() {
			if errs[i] = f(w); errs[i] != nil {
				b.cancel()
			}
		})
	}
	wg.Wait()
	// Report the cause, not the cancellations it triggered in the others.
	var canceled error
	for _, err := range errs {
		switch {
		case errors.Is(err, context.Canceled):
			canceled = err
		case err != nil:
			return err
		}
	}
	return canceled
}

func (w *apiWorker) warmup(m *mechanism, key benchKey, inputs [][]byte) error {
	for range warmupRequests {
		n := w.advance()
		if err := w.sign(n); err != nil {
			return err
		}
		if err := m.verify(key.pub, inputs[n], w.sig); err != nil {
			return fmt.Errorf("key %s: warm-up signature: %w", key.id, err)
		}
	}
	return nil
}

// advance returns the index of the input to sign next.
func (w *apiWorker) advance() int {
	n := w.next
	w.next = (n + 1) % len(w.wires)
	return n
}

// run signs until deadline, recording each request's latency.
func (w *apiWorker) run(deadline time.Time) error {
	now := time.Now()
	for now.Before(deadline) {
		n := w.advance()
		begin := now
		if err := w.sign(n); err != nil {
			return err
		}
		now = time.Now()
		w.lat = append(w.lat, now.Sub(begin))
		if len(w.lat)%sampleEvery == 1 && len(w.samples) < maxSamples {
			w.samples = append(w.samples, sample{input: n, sig: bytes.Clone(w.sig)})
		}
	}
	return nil
}

// sign sends input n and leaves the decoded signature in w.sig.
func (w *apiWorker) sign(n int) error {
	answer, err := w.sc.do(w.ctx, w.wires[n])
	if err != nil {
		return err
	}
	w.sig, err = parseSignature(answer, w.sig[:0])
	return err
}

func (w *apiWorker) verify(m *mechanism, key benchKey, inputs [][]byte) error {
	for _, s := range w.samples {
		if err := m.verify(key.pub, inputs[s.input], s.sig); err != nil {
			return fmt.Errorf("key %s: sampled signature: %w", key.id, err)
		}
	}
	return nil
}

// sigPrefix is how the appliance starts a sign answer; other spellings of
// the same JSON take the slow path.
var sigPrefix = []byte(`{"signature":"`)

// parseSignature decodes the signature of a sign answer, appending it to dst.
func parseSignature(answer, dst []byte) ([]byte, error) {
	enc := answer
	if rest, ok := bytes.CutPrefix(answer, sigPrefix); ok && bytes.HasSuffix(rest, []byte(`"}`)) {
		enc = rest[:len(rest)-2]
	} else {
		var v struct {
			Signature string `json:"signature"`
		}
		if err := json.Unmarshal(answer, &v); err != nil {
			return dst, fmt.Errorf("decode sign answer %q: %w", answer, err)
		}
		enc = []byte(v.Signature)
	}
	if len(enc) == 0 {
		return dst, fmt.Errorf("sign answer %q has no signature", answer)
	}
	n := base64.StdEncoding.DecodedLen(len(enc))
	if cap(dst) < n {
		dst = make([]byte, 0, n)
	}
	got, err := base64.StdEncoding.Decode(dst[:n], enc)
	if err != nil {
		return dst, fmt.Errorf("decode signature %q: %w", enc, err)
	}
	return dst[:got], nil
}
