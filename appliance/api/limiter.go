package api

import (
	"sync"
	"time"
)

// Failed-authentication rate limit per client address: a burst of
// limitBurst failures, then one more every limitRefill. Successful requests
// cost nothing, so a busy client with good credentials is never slowed.
const (
	limitBurst  = 10
	limitRefill = 2 * time.Second
	limitMax    = 10000 // addresses tracked before old ones are pruned
)

type limiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	now     func() time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter() *limiter {
	return &limiter{buckets: map[string]*bucket{}, now: time.Now}
}

// take charges one attempt to addr before the (slow) check runs, so parallel
// guesses cannot all slip past; it reports false when addr has no attempts
// left. A successful attempt is given back with refund.
func (l *limiter) take(addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[addr]
	if !ok {
		if len(l.buckets) >= limitMax {
			l.prune()
		}
		b = &bucket{tokens: limitBurst, last: l.now()}
		l.buckets[addr] = b
	}
	l.refill(b)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// refund returns the attempt taken for a request that authenticated.
func (l *limiter) refund(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.buckets[addr]; ok {
		b.tokens = min(b.tokens+1, limitBurst)
	}
}

func (l *limiter) refill(b *bucket) {
	now := l.now()
	b.tokens += float64(now.Sub(b.last)) / float64(limitRefill)
	if b.tokens > limitBurst {
		b.tokens = limitBurst
	}
	b.last = now
}

// prune forgets addresses whose bucket is full again.
func (l *limiter) prune() {
	for addr, b := range l.buckets {
		l.refill(b)
		if b.tokens >= limitBurst {
			delete(l.buckets, addr)
		}
	}
}
