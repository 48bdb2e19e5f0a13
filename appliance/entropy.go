package appliance

import (
	"context"
	"os"

	"github.com/keywarden/keywarden/rot"
)

// mixEntropy writes random bytes from the root of trust's hardware generator
// into the kernel's pool, from which Go's crypto/rand (and so every key the
// appliance generates) draws. Writing mixes without crediting entropy, so a
// weak or hostile hardware generator can add but never subtract. Roots of
// trust without a generator are skipped.
func (a *Appliance) mixEntropy(ctx context.Context) {
	r, ok := a.rot.(rot.Random)
	if !ok {
		return
	}
	b, err := r.Random(ctx, 64)
	if err != nil {
		a.log.Warn("root-of-trust random generator unavailable; keys use the OS generator only", "err", err)
		return
	}
	defer clear(b)
	f, err := os.OpenFile("/dev/urandom", os.O_WRONLY, 0)
	if err != nil {
		a.log.Warn("cannot mix root-of-trust randomness into the OS pool", "err", err)
		return
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		a.log.Warn("cannot mix root-of-trust randomness into the OS pool", "err", err)
	}
}

// MixEntropy implements api.Backend: it is called before every key
// generation.
func (a *Appliance) MixEntropy(ctx context.Context) { a.mixEntropy(ctx) }
