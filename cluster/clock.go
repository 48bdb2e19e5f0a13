package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// probingPath is where every etcd member answers its peers' health probes
// with its host's clock (etcd uses it to warn about clock drift).
const probingPath = "/raft/probing"

// PeerClockOffsets measures, for each peer URL at once, the peer host's
// clock minus this host's, NTP-style: the peer's time against the midpoint of the
// request, over the peer protocol with p's certificate. URLs that do not
// answer are left out; the error lists why, and is nil only when every URL
// answered. The accuracy is half the round trip (milliseconds on a LAN).
func PeerClockOffsets(ctx context.Context, p PeerTLS, urls []string) (map[string]time.Duration, error) {
	id, err := parsePeerTLS(p, "")
	if err != nil {
		return nil, err
	}
	transport := &http.Transport{TLSClientConfig: id.clientConfig()}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: probeTimeout}
	out := map[string]time.Duration{}
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, u := range urls { // all at once: a peer that is down costs its timeout once
		wg.Go(func() {
			d, err := clockOffset(ctx, client, u)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", u, err))
				return
			}
			out[u] = d
		})
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// clockOffset probes one peer: a first request opens the connection (its
// handshakes would skew the round trip), then three more on it; the one with
// the shortest round trip, whose midpoint is the best estimate, counts.
func clockOffset(ctx context.Context, client *http.Client, peerURL string) (time.Duration, error) {
	var best time.Duration
	bestRTT := time.Duration(-1)
	for i := range 4 {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, peerURL+probingPath, nil)
		if err != nil {
			return 0, err
		}
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		var health struct{ Now time.Time }
		err = json.NewDecoder(io.LimitReader(resp.Body, 1<<10)).Decode(&health)
		resp.Body.Close()
		t1 := time.Now()
		if err != nil || health.Now.IsZero() {
			return 0, fmt.Errorf("peer clock probe: unexpected answer (%v)", err)
		}
		if rtt := t1.Sub(t0); i > 0 && (bestRTT < 0 || rtt < bestRTT) {
			bestRTT = rtt
			best = health.Now.Sub(t0.Add(rtt / 2))
		}
	}
	return best, nil
}
