package appliance

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/keywarden/keywarden/appliance/api"
	"github.com/keywarden/keywarden/netcfg/timesync"
)

// The appliance's clock is a timesync.Clock: the host's clock when the
// process may set it (CAP_SYS_TIME, --clock auto or system), otherwise a
// node-local offset from it that is stored sealed and survives restarts.
// PUT /config/time steps it; NTP (PUT /config/ntp) disciplines it.

// offsetPersistEvery is how often an offset clock's offset, which NTP slews,
// is stored, so a restart resumes close to the disciplined time.
const offsetPersistEvery = 30 * time.Second

// openClock chooses the clock for this boot, starting an offset clock at the
// stored offset.
func (a *Appliance) openClock(stored time.Duration) {
	var c timesync.Clock
	var ch timesync.Choice
	switch a.cfg.Clock {
	case "offset":
		c, ch = timesync.NewOffsetClock(stored), timesync.Choice{Mode: timesync.ModeOffset, Reason: "--clock offset"}
	default:
		c, ch = timesync.NewClock(stored)
		if a.cfg.Clock == "system" && ch.Mode != timesync.ModeSystem {
			a.log.Warn("--clock system, but this process may not set the host clock; keeping a node-local offset instead", "reason", ch.Reason)
		}
	}
	a.mu.Lock()
	a.clock, a.clockChoice = c, ch
	a.syncer = timesync.NewSyncer(c, a.log.With("component", "ntp"))
	a.mu.Unlock()
	a.log.Info("time keeping", "mode", ch.Mode, "reason", ch.Reason)
}

// Now implements api.Backend: the appliance's clock.
func (a *Appliance) Now() time.Time {
	a.mu.RLock()
	c := a.clock
	a.mu.RUnlock()
	if c == nil {
		return time.Now() // before the node-local configuration is read
	}
	return c.Now()
}

// SetTime implements api.Backend: it steps the clock to t, the host's when
// the process may, and says which in the log.
func (a *Appliance) SetTime(ctx context.Context, t time.Time) error {
	a.mu.RLock()
	c, mode := a.clock, a.clockChoice.Mode
	a.mu.RUnlock()
	if c == nil {
		return fmt.Errorf("%w: the clock is not ready", api.ErrUnavailable)
	}
	a.offsetMu.Lock() // the step and its store are one change (see persistOffset)
	before := c.Now()
	err := timesync.SetTime(c, t)
	a.offsetMu.Unlock()
	if err != nil {
		return err
	}
	if err := a.persistOffset(ctx); err != nil {
		return err
	}
	a.log.Info("time set", "mode", mode, "step", t.Sub(before).Round(time.Millisecond).String())
	return nil
}

// persistOffset stores an offset clock's offset (nothing for the system
// clock, which keeps its own time).
//
// offsetMu makes reading the offset and storing it one step, so a periodic
// store cannot overwrite a newer one made by SetTime.
func (a *Appliance) persistOffset(ctx context.Context) error {
	a.offsetMu.Lock()
	defer a.offsetMu.Unlock()
	a.mu.RLock()
	oc, ok := a.clock.(*timesync.OffsetClock)
	a.mu.RUnlock()
	if !ok {
		return nil
	}
	return a.storeOffset(ctx, oc.Offset())
}

// runTimeSync runs the NTP client and keeps an offset clock's offset
// stored, until ctx ends. The clock exists once the node-local configuration
// is read, which a member without quorum does only later in its boot, so it
// waits for it.
func (a *Appliance) runTimeSync(ctx context.Context) {
	var syncer *timesync.Syncer
	for syncer = a.currentSyncer(); syncer == nil; syncer = a.currentSyncer() {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() { syncer.Run(ctx) })
	wg.Go(func() { a.keepOffset(ctx) })
	wg.Wait()
}

// keepOffset stores a slewing offset clock's offset now and then, and once
// more when ctx ends (before the store goes away), so a restart resumes at
// the disciplined time.
func (a *Appliance) keepOffset(ctx context.Context) {
	t := time.NewTicker(offsetPersistEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			_ = a.persistOffset(final)
			cancel()
			return
		case <-t.C:
			if err := a.persistOffset(ctx); err != nil && ctx.Err() == nil {
				a.log.Debug("time offset not stored", "err", err)
			}
		}
	}
}

// loadNTP applies the stored NTP configuration (at boot).
func (a *Appliance) loadNTP(ctx context.Context) error {
	c, err := a.storedNTP(ctx)
	if err != nil {
		return err
	}
	a.syncer.SetConfig(c)
	return nil
}

func (a *Appliance) storedNTP(ctx context.Context) (timesync.Config, error) {
	c, ok, err := getLocal[timesync.Config](ctx, a, "ntp")
	if !ok && err == nil {
		c.Servers = []string{}
	}
	return c, err
}

// NTP implements api.Backend: the configuration and the last sync.
func (a *Appliance) NTP(ctx context.Context) (api.NTPState, error) {
	c, err := a.storedNTP(ctx)
	if err != nil {
		return api.NTPState{}, err
	}
	a.mu.RLock()
	syncer, mode := a.syncer, a.clockChoice
	a.mu.RUnlock()
	st := syncer.Status()
	out := api.NTPState{Servers: c.Servers, Enabled: c.Enabled, Status: api.NTPStatus{
		Synced: st.Synced, OffsetMs: ms(st.Offset), Mode: mode.Mode, ModeReason: mode.Reason, Error: st.Err,
		Servers: []api.NTPServerStatus{},
	}}
	if !st.LastSync.IsZero() {
		out.Status.LastSync = st.LastSync.UTC().Format(time.RFC3339)
	}
	for _, r := range st.Servers {
		out.Status.Servers = append(out.Status.Servers, api.NTPServerStatus{
			Server: r.Server, OffsetMs: ms(r.Offset), RTTMs: ms(r.RTT), Stratum: r.Stratum, Outlier: r.Outlier, Error: r.Err,
		})
	}
	return out, nil
}

// SetNTP implements api.Backend: an invalid configuration is 400 and changes
// nothing; a valid one is stored and the client syncs at once.
func (a *Appliance) SetNTP(ctx context.Context, c timesync.Config) error {
	if c.Servers == nil {
		c.Servers = []string{}
	}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if _, err := a.local.Txn(ctx, nil, a.local.Put(a.localPath("ntp"), b)); err != nil {
		return err
	}
	a.syncer.SetConfig(c)
	a.log.Info("NTP configuration changed", "enabled", c.Enabled, "servers", c.Servers)
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
