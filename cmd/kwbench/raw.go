package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"time"
)

// rawRun is the outcome of the in-process phase.
type rawRun struct {
	ops     int
	elapsed time.Duration
	cpu     cpuDelta
}

// rawBench signs in-process with a fresh key of the mechanism's type from
// conns goroutines: the ceiling the API is compared against.
type rawBench struct {
	ctx    context.Context
	sign   signFunc
	inputs [][]byte
	conns  int
	run    rawRun
}

// newRawBench creates the key and checks that its signatures verify: the
// ceiling is only meaningful if the in-process work is the real one.
func newRawBench(ctx context.Context, m *mechanism, conns int) (*rawBench, error) {
	sign, pub, err := m.local()
	if err != nil {
		return nil, err
	}
	inputs := make([][]byte, inputCount)
	for i := range inputs {
		random := make([]byte, 32)
		_, _ = rand.Read(random) // crypto/rand.Read never fails on Linux
		inputs[i] = m.input(random)
	}
	sig, err := sign(inputs[0])
	if err != nil {
		return nil, fmt.Errorf("in-process sign: %w", err)
	}
	if err := m.verify(pub, inputs[0], sig); err != nil {
		return nil, fmt.Errorf("in-process signature: %w", err)
	}
	return &rawBench{ctx: ctx, sign: sign, inputs: inputs, conns: conns}, nil
}

// slice signs for d in one timed window.
func (b *rawBench) slice(d time.Duration, open window) error {
	counts := make([]int, b.conns)
	errs := make([]error, b.conns)
	var wg sync.WaitGroup
	closeWindow := open()
	start := time.Now()
	deadline := start.Add(d)
	for g := range b.conns {
		first := (g*len(b.inputs)/b.conns + b.run.ops) % len(b.inputs)
		wg.Go(func() { counts[g], errs[g] = b.loop(first, deadline) })
	}
	wg.Wait()
	b.run.elapsed += time.Since(start)
	b.run.cpu = b.run.cpu.add(closeWindow())
	for g := range b.conns {
		if errs[g] != nil {
			return errs[g]
		}
		b.run.ops += counts[g]
	}
	return nil
}

func (b *rawBench) loop(first int, deadline time.Time) (int, error) {
	n := 0
	for time.Now().Before(deadline) {
		if _, err := b.sign(b.inputs[(first+n)%len(b.inputs)]); err != nil {
			return n, fmt.Errorf("in-process sign: %w", err)
		}
		n++
		if n%64 == 0 && b.ctx.Err() != nil {
			return n, b.ctx.Err()
		}
	}
	return n, nil
}
