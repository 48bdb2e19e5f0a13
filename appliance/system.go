package appliance

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/keywarden/keywarden/appliance/api"
	"github.com/keywarden/keywarden/appliance/tlsconf"
	"github.com/keywarden/keywarden/cluster"
	"github.com/keywarden/keywarden/rot"
)

// tryUnattendedBoot unseals the domain key with the root of trust when
// unattended boot is on. If that fails the appliance stays Locked, says why,
// and can still be unlocked with the passphrase.
func (a *Appliance) tryUnattendedBoot(ctx context.Context) {
	e, err := a.kv.Get(ctx, a.localPath("unattended"))
	if errors.Is(err, cluster.ErrNotFound) {
		return
	}
	var key []byte
	if err == nil {
		key, err = a.rot.Unseal(ctx, e.Value)
	}
	if err != nil {
		a.setState(api.Locked, "unattended boot refused: "+rotReason(err)+"; unlock with the passphrase")
		return
	}
	if err := a.openSession(key); err != nil {
		a.setState(api.Locked, "unattended boot failed: "+err.Error())
		return
	}
	a.log.Info("unattended boot: unlocked by the root of trust")
}

// rotReason explains a root-of-trust failure in an operator's words.
func rotReason(err error) string {
	switch {
	case errors.Is(err, rot.ErrPolicy):
		return "the root of trust's sealing policy is not satisfied (firmware or boot chain changed): " + err.Error()
	case errors.Is(err, rot.ErrWrongDevice):
		return "the sealed blob belongs to another device"
	case errors.Is(err, rot.ErrAuth):
		return "the root of trust refused its credentials (wrong PKCS#11 PIN?): " + err.Error()
	case errors.Is(err, rot.ErrUnavailable):
		return "the root of trust is unavailable (TPM or token missing?): " + err.Error()
	case errors.Is(err, rot.ErrMalformed):
		return "the sealed blob is damaged or not from this root of trust"
	}
	return err.Error()
}

// UnattendedBoot implements api.Backend.
func (a *Appliance) UnattendedBoot(ctx context.Context) (bool, error) {
	_, err := a.kv.Get(ctx, a.localPath("unattended"))
	if errors.Is(err, cluster.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// SetUnattendedBoot implements api.Backend: on seals the domain key with the
// root of trust into this node's unattended slot; off deletes the slot.
func (a *Appliance) SetUnattendedBoot(ctx context.Context, on bool) error {
	a.opMu.Lock() // a concurrent Lock must not clear the domain key mid-seal
	defer a.opMu.Unlock()
	s := a.currentSession()
	if s == nil {
		return fmt.Errorf("%w: the appliance is not Operational", api.ErrPrecondition)
	}
	op := cluster.Delete(a.localPath("unattended"))
	if on {
		blob, err := a.rot.Seal(ctx, s.domainKey)
		if err != nil {
			return fmt.Errorf("seal the domain key for unattended boot: %w", err)
		}
		op = cluster.Put(a.localPath("unattended"), blob)
	}
	_, err := a.kv.Txn(ctx, nil, []cluster.Op{op})
	return err
}

// TLS implements api.Backend.
func (a *Appliance) TLS() *tlsconf.Identity {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.tlsID
}

// GenerateTLS implements api.Backend.
func (a *Appliance) GenerateTLS(ctx context.Context, keyType string, bits int) error {
	if err := a.peerIdentityFixed(); err != nil {
		return err
	}
	old := a.TLS().External()
	id, err := a.newTLSIdentity(ctx, keyType, bits)
	if errors.Is(err, tlsconf.ErrUnsupported) || errors.Is(err, tlsconf.ErrInvalid) {
		return fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	if err != nil {
		return err
	}
	if err := a.installTLS(ctx, id); err != nil {
		return err
	}
	if tk, ok := a.rot.(tokenKeys); ok && old != "" {
		if err := tk.DestroyKey(ctx, old); err != nil {
			a.log.Warn("the previous TLS key could not be destroyed in the token", "key", old, "err", err)
		}
	}
	return nil
}

// SetTLSCertificate implements api.Backend. The current identity is not
// changed unless the new chain matches its key and is stored. On a node
// with cluster peers the certificate is also the node's peer credential:
// it must keep authenticating the node to them, and the store member
// restarts to present it.
func (a *Appliance) SetTLSCertificate(ctx context.Context, pemChain []byte) error {
	id, err := a.withCertificate(ctx, pemChain)
	if err != nil {
		return err
	}
	if !a.peered.Load() {
		return a.installTLS(ctx, id)
	}
	a.netMu.Lock() // the peer address must not move meanwhile
	defer a.netMu.Unlock()
	old := a.member.Config()
	peer := &cluster.PeerTLS{Cert: id.CertPEM(), Key: old.PeerTLS.Key, CA: old.PeerTLS.CA}
	if err := a.memberConfig(peer).Validate(); err != nil {
		return fmt.Errorf("%w: this node has cluster peers and the certificate would not authenticate it to them: %v (it must be signed by the cluster CA, allow server and client authentication, and name the peer address %s)", api.ErrPrecondition, err, a.peerListen())
	}
	if err := a.savePeer(peer); err != nil {
		return err
	}
	if err := a.installTLS(ctx, id); err != nil {
		return errors.Join(err, a.savePeer(old.PeerTLS))
	}
	// The restart must finish whatever the client does: a member left
	// stopped would take the node out of its cluster.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), peerRestartWait)
	defer cancel()
	if err := a.member.Restart(rctx, a.memberConfig(peer)); err != nil {
		if rerr := a.member.Restart(rctx, old); rerr != nil {
			a.log.Error("the store member could not restart, neither with the new certificate nor the old one", "err", rerr)
		}
		return fmt.Errorf("the certificate is installed, but the store member did not restart with it: %w", err)
	}
	a.log.Info("the node's certificate was renewed; the store member presents it to its peers")
	return a.awaitQuorum(rctx)
}

// awaitQuorum waits until a restarted store member serves again (it
// restarts without waiting for its peers), so that the answer to the
// change that restarted it is not followed by refusals.
func (a *Appliance) awaitQuorum(ctx context.Context) error {
	for !a.member.Ready() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("the store member restarted but has not reached its peers yet: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// withCertificate returns the node's TLS identity with pemChain, which must
// certify the identity's key, as its certificate.
func (a *Appliance) withCertificate(ctx context.Context, pemChain []byte) (*tlsconf.Identity, error) {
	b, err := a.TLS().MarshalBinary()
	if err != nil {
		return nil, err
	}
	id := new(tlsconf.Identity)
	if err := id.UnmarshalResolve(b, a.resolveTLSKey(ctx)); err != nil {
		return nil, err
	}
	if err := id.SetCertificate(pemChain); err != nil {
		return nil, fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	return id, nil
}

func (a *Appliance) installTLS(ctx context.Context, id *tlsconf.Identity) error {
	if err := a.storeTLS(ctx, id); err != nil {
		return err
	}
	a.setTLS(id)
	return nil
}

// SystemInfo implements api.Backend.
func (a *Appliance) SystemInfo(ctx context.Context) api.SystemInfo {
	info := api.SystemInfo{
		SoftwareVersion: Version,
		SoftwareBuild:   Build,
		FirmwareVersion: runtime.Version(),
		AkPub:           map[string]string{},
		PCR:             map[string]string{},
	}
	if d, ok := a.rot.(rot.Describer); ok {
		desc := d.Describe()
		info.RootOfTrust = api.RootOfTrustInfo{Kind: desc.Kind, DevelopmentOnly: desc.DevelopmentOnly, Detail: desc.Detail}
		info.HardwareVersion = "keywarden/" + desc.Kind
		if desc.DevelopmentOnly {
			info.HardwareVersion += " (DEVELOPMENT ONLY: no hardware root of trust)"
		}
	}
	if att, ok := a.rot.(rot.Attester); ok {
		if pcrs, err := att.PCRs(ctx); err == nil {
			for i, v := range pcrs {
				info.PCR[strconv.Itoa(i)] = hex.EncodeToString(v)
			}
		}
	}
	if signer, err := a.rot.Identity(ctx); err == nil {
		if der, err := x509.MarshalPKIXPublicKey(signer.Public()); err == nil {
			info.AkPub["P256"] = base64.StdEncoding.EncodeToString(der)
			sum := sha256.Sum256(der)
			info.DeviceID = base32.StdEncoding.EncodeToString(sum[:])[:10]
		}
	}
	return info
}

// Diagnose implements api.Backend: the store member's recent warnings, kept
// by the cluster package, and whether it runs.
func (a *Appliance) Diagnose() api.Diagnosis {
	var d api.Diagnosis
	d.ClusterLogs = []api.ClusterLog{}
	m := a.member
	if m == nil {
		return d
	}
	d.ClusterState.Running = true
	for _, r := range m.RecentLogs() {
		d.ClusterLogs = append(d.ClusterLogs, api.ClusterLog{Level: strings.ToLower(r.Level.String()), Msg: r.Msg})
	}
	return d
}

// Metrics implements api.Backend.
func (a *Appliance) Metrics() map[string]any {
	st, _ := a.State()
	m := map[string]any{
		"state":         st,
		"uptimeSeconds": int64(time.Since(a.started).Seconds()),
		"goroutines":    runtime.NumGoroutine(),
	}
	a.mu.RLock()
	syncer, mode := a.syncer, a.clockChoice.Mode
	a.mu.RUnlock()
	if syncer != nil {
		ntp := syncer.Status()
		m["clockMode"] = mode
		m["ntpSynced"] = ntp.Synced
		m["ntpOffsetMs"] = ms(ntp.Offset)
	}
	m["clockSkewAlarmMembers"] = a.skewAlarm.Load()
	return m
}

// Reboot implements api.Backend.
func (a *Appliance) Reboot(context.Context) error { return a.request(actReboot) }

// Shutdown implements api.Backend.
func (a *Appliance) Shutdown(context.Context) error { return a.request(actShutdown) }

// FactoryReset implements api.Backend: a cluster member first leaves its
// cluster, then the reset runs once the answer is written. The action slot
// is held throughout, so no other system action can slip in between the
// leave and the reset.
func (a *Appliance) FactoryReset(ctx context.Context) error {
	a.actionMu.Lock()
	defer a.actionMu.Unlock()
	if len(a.actions) > 0 {
		return fmt.Errorf("%w: another system action is already in progress", api.ErrPrecondition)
	}
	if err := a.leaveCluster(ctx); err != nil {
		return err
	}
	return a.requestLocked(actFactoryReset)
}

// leaveCluster removes this node from its cluster, with its heartbeat and
// node-local entries, before a factory reset erases its member. Without
// quorum (Failed) it cannot: the reset goes ahead and the log names the
// member the remaining ones must remove. Otherwise a failure refuses the
// reset, so that no cluster is left waiting for a member that is gone.
func (a *Appliance) leaveCluster(ctx context.Context) error {
	if a.member == nil || !a.peered.Load() {
		return nil
	}
	id := a.member.ID()
	err := a.removeSelf(ctx, id)
	if err == nil {
		return nil
	}
	if st, _ := a.State(); st == api.Failed {
		a.log.Error("factory reset without leaving the cluster (no quorum): remove this member from a remaining member (DELETE /cluster/members/{id})", "member", cluster.FormatMemberID(id), "err", err)
		return nil
	}
	return fmt.Errorf("the node could not leave its cluster, so it was not reset (retry, or remove it from another member first): %w", err)
}

func (a *Appliance) removeSelf(ctx context.Context, id uint64) error {
	members, err := a.member.Members(ctx)
	if err != nil || len(members) <= 1 {
		return err
	}
	// Its entries go first (a removed member can no longer write), and come
	// back if the removal fails: the node then stays a member as it was.
	own, err := a.kv.List(ctx, a.localPath(""))
	if err != nil {
		return err
	}
	ops := []cluster.Op{cluster.DeletePrefix(a.localPath("")), cluster.Delete(statusPrefix + cluster.FormatMemberID(id))}
	if _, err := a.kv.Txn(ctx, nil, ops); err != nil {
		return err
	}
	if err := a.member.Remove(ctx, id); err != nil {
		back := make([]cluster.Op, len(own))
		for i, e := range own {
			back[i] = cluster.Put(e.Key, e.Value)
		}
		if _, perr := a.kv.Txn(context.WithoutCancel(ctx), nil, back); perr != nil {
			a.log.Error("the node-local entries removed before leaving the cluster could not be written back; restart the node to recreate its TLS identity", "err", perr)
		}
		return err
	}
	a.log.Warn("left the cluster for a factory reset", "member", cluster.FormatMemberID(id))
	return nil
}
