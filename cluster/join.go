package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"
)

const (
	// memberDirName is the directory etcd keeps a member's WAL and store in,
	// inside the data dir.
	memberDirName = "member"

	// probeTimeout bounds one attempt to reach a peer before joining: a
	// member that answers at all answers in milliseconds.
	probeTimeout = 3 * time.Second
)

// InitialClusterFor returns Config.InitialCluster for the member joinerID
// that AddLearner registered, which will start under joinerName. members is
// the cluster's list from AddLearner. Members that never started have no
// name yet; they are listed under their hex ID, which etcd accepts because it
// matches members by peer URL.
func InitialClusterFor(members []MemberInfo, joinerID uint64, joinerName string) (map[string][]string, error) {
	out := make(map[string][]string, len(members))
	found := false
	for _, mi := range members {
		name := mi.Name
		switch {
		case mi.ID == joinerID:
			name, found = joinerName, true
		case name == "":
			name = "member-" + FormatMemberID(mi.ID)
		case name == joinerName:
			return nil, fmt.Errorf("initial cluster: name %q is taken by member %s", name, FormatMemberID(mi.ID))
		}
		out[name] = slices.Clone(mi.PeerURLs)
	}
	if !found {
		return nil, fmt.Errorf("initial cluster: %w: joiner %s is not in the member list", ErrMemberNotFound, FormatMemberID(joinerID))
	}
	return out, nil
}

// checkMemberData checks the data dir against how cfg starts it, before
// etcd writes anything: a join needs a data dir that holds no member yet,
// and ForceNewCluster one that does. Other starts take either.
func checkMemberData(cfg Config) error {
	if !cfg.Join && !cfg.ForceNewCluster {
		return nil
	}
	has, err := HasMemberData(cfg.DataDir)
	switch {
	case err != nil:
		return err
	case cfg.Join && has:
		return fmt.Errorf("join: %w: move %q aside first", ErrHasMemberData, cfg.DataDir)
	case cfg.ForceNewCluster && !has:
		return fmt.Errorf("force new cluster: %w: %q has no member to recover", ErrNoMemberData, cfg.DataDir)
	}
	return nil
}

// HasMemberData reports whether dataDir holds a member that restarts from
// its own data. etcd decides the same way, by whether the member's
// write-ahead log (member/wal/*.wal) exists; without one, a start without
// Join founds a new cluster of one.
func HasMemberData(dataDir string) (bool, error) {
	wals, err := filepath.Glob(filepath.Join(dataDir, memberDirName, "wal", "*.wal"))
	if err != nil {
		return false, fmt.Errorf("check %s for member data: %w", dataDir, err)
	}
	return len(wals) > 0, nil
}

// undoJoin removes what a failed join left in the data dir, so that the
// member is as it was before and the join can be tried again. It does
// nothing unless joined is set.
func (m *Member) undoJoin(joined bool) error {
	if !joined {
		return nil
	}
	if err := os.RemoveAll(filepath.Join(m.cfg.DataDir, memberDirName)); err != nil {
		return fmt.Errorf("remove data of the failed join: %w", err)
	}
	return nil
}

// probePeers makes sure a join can work before etcd writes anything: it asks
// the other members for their version over the peer protocol, with this
// member's certificate, until one answers. etcd would report a refused
// certificate only as "could not retrieve cluster information"; this names
// the reason. The error wraps ErrPeerTLS when some member refused, or was
// refused, in the TLS handshake, and ErrUnavailable otherwise.
func (m *Member) probePeers(ctx context.Context) error {
	transport := &http.Transport{TLSClientConfig: m.tlsClientConfig()}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: probeTimeout}
	var errs []error
	sentinel := ErrUnavailable
	for _, name := range slices.Sorted(maps.Keys(m.cfg.InitialCluster)) {
		if name == m.cfg.Name {
			continue
		}
		for _, u := range m.cfg.InitialCluster[name] {
			err := probe(ctx, client, u)
			if err == nil {
				return nil
			}
			if tlsRefusal(err) {
				sentinel = ErrPeerTLS
			}
			errs = append(errs, fmt.Errorf("member %q at %s: %w", name, u, err))
		}
	}
	return fmt.Errorf("join: no member of the cluster accepted this member: %w: %w", sentinel, errors.Join(errs...))
}

// tlsClientConfig is nil (plain http) without a peer identity.
func (m *Member) tlsClientConfig() *tls.Config {
	if m.peerID == nil {
		return nil
	}
	return m.peerID.clientConfig()
}

// probe succeeds when the peer at peerURL answers an HTTP request at all:
// the TLS handshake then passed both ways.
func probe(ctx context.Context, client *http.Client, peerURL string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, peerURL+"/version", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<10))
	return resp.Body.Close()
}

// tlsRefusal reports whether err means one side of a TLS handshake refused
// the other: we did not trust the peer's certificate, the peer sent an
// alert (it did not trust ours), or it does not speak TLS at all.
func tlsRefusal(err error) bool {
	var verify *tls.CertificateVerificationError
	var header tls.RecordHeaderError
	var op *net.OpError
	return errors.As(err, &verify) || errors.As(err, &header) ||
		(errors.As(err, &op) && op.Op == "remote error")
}
