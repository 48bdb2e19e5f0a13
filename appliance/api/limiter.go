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

// allow reports whether addr may try to authenticate.
func (l *limiter) allow(addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[addr]
	if !ok {
		return true
	}
	l.refill(b)
	return b.tokens >= 1
}

// failed charges one failure to addr.
func (l *limiter) failed(addr string) {
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
	b.tokens--
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
