package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/keywarden/keywarden/appliance/client"
)

// This file holds the steps of cluster fulljoin and what a failed one
// leaves behind; the steps that use the cluster's own CA are with the
// cluster CA commands.

// joinStep is one step of fulljoin and where its failure leaves the nodes.
type joinStep struct {
	name  string
	run   func(context.Context) error
	state func(context.Context) string
}

// stepError is a failed fulljoin step: what failed, and the state the two
// nodes are in, so the operator knows what to fix and whether a rerun is
// safe.
type stepError struct {
	step, steps int
	name        string
	err         error
	state       string
}

func (e *stepError) Error() string {
	return fmt.Sprintf("cluster fulljoin step %d/%d (%s) failed: %v\nnow: %s", e.step, e.steps, e.name, e.err, e.state)
}

func (e *stepError) Unwrap() error { return e.err }

// run performs the steps in order and returns the joiner's member ID.
func (j *fullJoin) run(ctx context.Context) (string, error) {
	first := joinStep{"certify the member", j.certifyMember, fixed("the joiner is unchanged; rerunning fulljoin is safe")}
	if j.ca == nil {
		first = joinStep{"get or generate the member's cluster CA", j.useClusterCA, first.state}
	}
	steps := []joinStep{
		first,
		{"certify the joiner", j.certifyJoiner, fixed("the member is ready for the joiner; the joiner keeps its own keys and users; rerunning fulljoin is safe")},
		{"register the joiner on the member", j.register, fixed("the joiner is not registered (after a timeout, check with cluster members on the member) " +
			"and keeps its own keys and users; rerunning fulljoin is safe")},
		{"join the cluster", j.join, j.joinState},
		{"wait until the new member is ready", j.awaitReady, j.waitState},
	}
	j.steps = len(steps)
	for i, s := range steps {
		j.step = i + 1
		if err := s.run(ctx); err != nil {
			pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), probeLimit)
			defer cancel()
			return "", &stepError{step: j.step, steps: j.steps, name: s.name, err: err, state: s.state(pctx)}
		}
	}
	return j.memberID, nil
}

func fixed(s string) func(context.Context) string {
	return func(context.Context) string { return s }
}

// say prints the progress line of the current step.
func (j *fullJoin) say(format string, args ...any) {
	fmt.Fprintf(j.a.stderr, "[%d/%d] "+format+"\n", append([]any{j.step, j.steps}, args...)...)
}

// certifyMember certifies the member only when it has no cluster CA yet;
// a member that has one must have the operator's, or it would refuse the
// joiner's certificate.
func (j *fullJoin) certifyMember(ctx context.Context) error {
	have, err := j.member.ClusterCA(ctx)
	switch {
	case client.StatusCode(err) == http.StatusNotFound:
	case err != nil:
		return fmt.Errorf("get the member's cluster CA: %w", err)
	case !samePEMCert(have, j.ca.cert.Raw):
		return fmt.Errorf("the member's cluster CA is not --ca-cert, so the member would refuse a joiner certified by it; nothing changed")
	default:
		j.say("member: its cluster CA is --ca-cert already; keeping its certificate")
		return nil
	}
	if j.fl.memberPeer == "" {
		return fmt.Errorf("the member has no cluster CA yet and needs a certificate for its peer address: add --member-peer https://IP:PORT; nothing changed")
	}
	j.say("member: no cluster CA yet; certifying it for %s and installing the CA", j.fl.memberPeer)
	return j.certify(ctx, j.member, "member", j.fl.memberPeer, j.fl.member, j.operatorSign, j.ca.certPEM)
}

func (j *fullJoin) certifyJoiner(ctx context.Context) error {
	if j.ca == nil {
		j.say("joiner: having the member's cluster CA certify it for %s; installing that and the CA", j.fl.joinerPeer)
		return j.certify(ctx, j.joiner, "joiner", j.fl.joinerPeer, j.fl.joiner, j.clusterSign, j.clusterCA)
	}
	j.say("joiner: certifying it for %s and installing the CA", j.fl.joinerPeer)
	return j.certify(ctx, j.joiner, "joiner", j.fl.joinerPeer, j.fl.joiner, j.operatorSign, j.ca.certPEM)
}

// peerSigner certifies the key of a node's certificate request for hosts
// (IP addresses or DNS names) and returns the chain to install on it.
type peerSigner func(ctx context.Context, csrPEM []byte, hosts []string) ([]byte, error)

// operatorSign is the peerSigner of the operator's CA: kwctl signs here.
func (j *fullJoin) operatorSign(_ context.Context, csrPEM []byte, hosts []string) ([]byte, error) {
	return j.ca.signPeer(csrPEM, hosts, j.a.now())
}

// certify has the node make a certificate request for its TLS key, has
// sign certify it for the peer address (and the API host, which then keeps
// verifying), and installs the certificate, then caPEM, the CA it chains to.
func (j *fullJoin) certify(ctx context.Context, c *client.Client, who, peerURL, apiURL string, sign peerSigner, caPEM []byte) error {
	peerHost := hostOf(peerURL)
	csr, err := c.TLSCSR(ctx, client.DistinguishedName{CommonName: peerHost})
	if err != nil {
		return fmt.Errorf("get the %s's certificate request: %w; nothing changed", who, err)
	}
	cert, err := sign(ctx, csr, []string{peerHost, hostOf(apiURL)})
	if err != nil {
		return fmt.Errorf("certify the %s: %w; nothing changed", who, err)
	}
	if err := c.SetTLSCert(ctx, cert); err != nil {
		return fmt.Errorf("install the %s's certificate: %w; it keeps its old one", who, err)
	}
	if err := c.SetClusterCA(ctx, caPEM); err != nil {
		return fmt.Errorf("install the cluster CA on the %s: %w; it presents the new certificate but has no cluster CA", who, err)
	}
	return nil
}

func (j *fullJoin) register(ctx context.Context) error {
	j.say("member: registering the joiner at %s as a learner", j.fl.joinerPeer)
	added, err := j.member.AddClusterMember(ctx, []string{j.fl.joinerPeer})
	if err != nil {
		return fmt.Errorf("add cluster member: %w", err)
	}
	if j.memberID = memberAt(added.Members, j.fl.joinerPeer); j.memberID == "?" {
		return fmt.Errorf("the member's answer lists no member at %s", j.fl.joinerPeer)
	}
	j.added = added
	return nil
}

func (j *fullJoin) join(ctx context.Context) error {
	j.say("joiner: joining as member %s; its own keys, users and settings are replaced by the cluster's", j.memberID)
	req := client.ClusterJoinRequest{Members: j.added.Members, JoinerKit: j.added.JoinerKit, BackupPassphrase: j.backup}
	if err := j.joinerLong.JoinCluster(ctx, req); err != nil {
		return fmt.Errorf("join cluster: %w", err)
	}
	return nil
}

// joinState tells, from the joiner's state, whether a failed join left it
// as it was (the appliance puts its own store back) or in the cluster.
func (j *fullJoin) joinState(ctx context.Context) string {
	st, err := j.joinerAnon.State(ctx)
	switch {
	case err != nil:
		return fmt.Sprintf("the joiner's state is unknown (%v); see cluster status on the member, where it is learner %s", err, j.memberID)
	case st == client.StateOperational:
		return fmt.Sprintf("the joiner is unchanged (Operational, with its own keys and users); the member still lists it as learner %s: "+
			"remove that (kwctl --url %s cluster remove %s) before trying again", j.memberID, j.fl.member, j.memberID)
	}
	return fmt.Sprintf("the joiner is %s: it gave up its own store and is learner %s of the cluster; watch cluster status on the member "+
		"and, once it has caught up, promote it (cluster promote %s)", st, j.memberID, j.memberID)
}

// awaitReady polls the member's view until the new member is a voter that
// answers its peers, printing each change of its state.
func (j *fullJoin) awaitReady(ctx context.Context) error {
	j.say("waiting up to %v for member %s to be ready and voting", j.fl.wait, j.memberID)
	deadline := time.Now().Add(j.fl.wait)
	last := ""
	for {
		st, err := j.member.ClusterStatus(ctx)
		now := ""
		if err == nil {
			now = memberCondition(st, j.memberID)
			if now == "ready" {
				return nil
			}
			if now != last {
				fmt.Fprintf(j.a.stderr, "      member %s: %s\n", j.memberID, now)
				last = now
			}
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("not ready within %v: get cluster status: %w", j.fl.wait, err)
			}
			return fmt.Errorf("not ready within %v: %s", j.fl.wait, now)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(readyPollEvery):
		}
	}
}

// memberCondition sums up member id in st: "ready" once it is a voter that
// answers its peers, else what it is doing.
func memberCondition(st client.ClusterStatus, id string) string {
	for _, m := range st.Members {
		if m.ID != id {
			continue
		}
		s := m.State
		if m.Stage != "" {
			s += " (" + m.Stage + ")"
		}
		if m.Learner && m.State == "ready" {
			s += ", still a learner"
		}
		return s
	}
	return "not listed by the member"
}

func (j *fullJoin) waitState(context.Context) string {
	return fmt.Sprintf("the joiner joined the cluster as member %s and is Locked, but the member does not see it ready and voting yet; "+
		"watch cluster status on the member (promote it with cluster promote %s if it stays a learner)", j.memberID, j.memberID)
}
