// Package timesync keeps the appliance's clock: it sets the time when the
// operator asks (PUT /config/time) and, when NTP is enabled (PUT
// /config/ntp), disciplines it with a small built-in SNTP client.
//
// The clock is a Clock. NewClock probes, without changing anything, whether
// this process may set the host's clock (CAP_SYS_TIME in the initial user
// namespace) and returns a SystemClock when it may, otherwise an OffsetClock
// that keeps the appliance's time as an offset from the host clock in memory;
// its Choice says which and why, so the operator can be told.
//
// A Syncer queries every configured server at once, discards the answers that
// disagree with the majority (see combine), and corrects the clock by the
// combined offset: it slews offsets smaller than StepThreshold, as ntpd does,
// so the time never jumps backwards, and steps larger ones. NewSyncer starts
// nothing; Run polls until its context ends, and SyncOnce syncs now. Status
// reports the last result for the status endpoint, the metrics and the
// cluster status.
//
// In a cluster every member's clock must agree with the others': SkewAlarm
// names the members whose clock is off, and CheckJoinSkew refuses a join into
// a cluster whose clocks differ from this node's by more than the threshold
// (DefaultSkewThreshold unless configured).
package timesync
