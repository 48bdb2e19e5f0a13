package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/keywarden/keywarden/appliance/client"
)

const fullJoinSummary = "certify, register and join a new appliance in one go " +
	"(with a CA the operator names; a CA the cluster holds itself is not supported yet)"

const (
	// fullJoinWait is how long fulljoin waits, by default, for the new
	// member to be ready and voting once the join request returned.
	fullJoinWait = 2 * time.Minute
	// readyPollEvery is the pace of that wait's status requests.
	readyPollEvery = 500 * time.Millisecond
	// probeLimit bounds the requests that find out where a failed step
	// left the nodes.
	probeLimit = 10 * time.Second
)

// fullJoinFlags are the command line of cluster fulljoin.
type fullJoinFlags struct {
	member, joiner         string // API URLs
	memberPeer, joinerPeer string // peer URLs, https://IP:PORT
	caCert, caKey          string
	joinerUser             string
	joinerPassFile         string
	backupFile             string
	wait                   time.Duration
}

func (f *fullJoinFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.member, "member", "", "API `URL` of an appliance of the cluster, like https://192.0.2.5:8443/api/v1 (required)")
	fs.StringVar(&f.joiner, "joiner", "", "API `URL` of the appliance that joins (required)")
	fs.StringVar(&f.joinerPeer, "joiner-peer", "", "the joiner's peer `URL`: https:// and its --peer-listen address (required)")
	fs.StringVar(&f.memberPeer, "member-peer", "", "the member's peer `URL`; needed when the member has no cluster CA yet and is certified too")
	fs.StringVar(&f.caCert, "ca-cert", "", "the operator's CA certificate, PEM `FILE`: it certifies both nodes, becomes the cluster CA, and with the global --ca is trusted for their APIs too (required)")
	fs.StringVar(&f.caKey, "ca-key", "", "its private key: PEM `FILE` (EC, RSA or PKCS #8, unencrypted) readable by its owner only (required)")
	fs.StringVar(&f.joinerUser, "joiner-user", "", "Administrator `ID` on the joiner (default: --user)")
	fs.StringVar(&f.joinerPassFile, "joiner-passphrase-file", "", "read that user's passphrase from `FILE` (else env KEYWARDEN_JOINER_PASSPHRASE, else the member's passphrase)")
	fs.StringVar(&f.backupFile, "backup-passphrase-file", "", "read the cluster's backup passphrase from `FILE` (else env KEYWARDEN_BACKUP_PASSPHRASE)")
	fs.DurationVar(&f.wait, "wait", fullJoinWait, "how long to wait for the new member to be ready and voting, as a `DURATION`")
}

// check reports the first problem of the command line itself.
func (f *fullJoinFlags) check() error {
	for _, req := range []struct{ name, value string }{
		{"member", f.member}, {"joiner", f.joiner}, {"joiner-peer", f.joinerPeer}, {"ca-cert", f.caCert}, {"ca-key", f.caKey},
	} {
		if req.value == "" {
			return usagef("cluster fulljoin: --%s is required", req.name)
		}
	}
	if err := checkPeerURL("joiner-peer", f.joinerPeer); err != nil {
		return err
	}
	if f.memberPeer != "" {
		if err := checkPeerURL("member-peer", f.memberPeer); err != nil {
			return err
		}
	}
	switch {
	case f.member == f.joiner:
		return usagef("cluster fulljoin: --member and --joiner name the same appliance")
	case f.memberPeer == f.joinerPeer:
		return usagef("cluster fulljoin: --member-peer and --joiner-peer name the same address")
	case f.wait <= 0:
		return usagef("cluster fulljoin: --wait must be positive")
	}
	return nil
}

// checkPeerURL accepts exactly what the appliance registers a peer under:
// https://HOST:PORT with nothing after it.
func checkPeerURL(name, s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Hostname() == "" || u.Port() == "" || u.Path != "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return usagef("cluster fulljoin: --%s %q: want https://IP:PORT, the address the node's --peer-listen names", name, s)
	}
	return nil
}

// hostOf returns the host of a URL that parsed before.
func hostOf(raw string) string {
	u, _ := url.Parse(raw)
	return u.Hostname()
}

func cmdClusterFullJoin(ctx context.Context, a *app, args []string) error {
	var fl fullJoinFlags
	fs := a.newFlags()
	fl.register(fs)
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	if err := fl.check(); err != nil {
		return err
	}
	j, err := a.newFullJoin(fl)
	if err != nil {
		return err
	}
	id, err := j.run(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stderr, "the joiner is Locked: unlock it with the cluster's unlock passphrase")
	return a.emit(map[string]string{"id": id}, func(w io.Writer) { fmt.Fprintf(w, "joined: member %s ready\n", id) })
}

// fullJoin is one run of cluster fulljoin: everything it needs is resolved
// before the first request, so a missing passphrase never strands a
// half-joined node.
type fullJoin struct {
	a      *app
	fl     fullJoinFlags
	ca     *operatorCA
	backup string

	member     *client.Client
	joiner     *client.Client
	joinerLong *client.Client // for the join request, which waits for the store
	joinerAnon *client.Client // for the joiner's state, whatever its users are

	step, steps int
	memberID    string // the joiner's member ID, once registered
	added       client.ClusterMemberAdded
}

func (a *app) newFullJoin(fl fullJoinFlags) (*fullJoin, error) {
	j := &fullJoin{a: a, fl: fl}
	memberUser, memberPass, joinerUser, joinerPass, err := a.fullJoinCredentials(fl)
	if err != nil {
		return nil, err
	}
	if j.backup, err = a.secret(backupSource(fl.backupFile)); err != nil {
		return nil, err
	}
	if j.ca, err = loadOperatorCA(fl.caCert, fl.caKey, a.now()); err != nil {
		return nil, err
	}
	member, err := a.nodeClient(fl.member, j.ca.certPEM, a.g.timeout)
	if err != nil {
		return nil, err
	}
	joiner, err := a.nodeClient(fl.joiner, j.ca.certPEM, a.g.timeout)
	if err != nil {
		return nil, err
	}
	joinerLong, err := a.nodeClient(fl.joiner, j.ca.certPEM, max(a.g.timeout, joinRequestLimit))
	if err != nil {
		return nil, err
	}
	if a.g.insecure {
		fmt.Fprintf(a.stderr, "kwctl: warning: --insecure: the certificates of %s and %s are not verified\n", member.URL(), joiner.URL())
	}
	j.member = member.WithCredentials(memberUser, memberPass)
	j.joiner = joiner.WithCredentials(joinerUser, joinerPass)
	j.joinerLong = joinerLong.WithCredentials(joinerUser, joinerPass)
	j.joinerAnon = joiner
	return j, nil
}

// fullJoinCredentials resolves both administrators: the member's from the
// global flags, the joiner's from its own flags with the member's as the
// default (two fresh appliances are often provisioned alike).
func (a *app) fullJoinCredentials(fl fullJoinFlags) (memberUser, memberPass, joinerUser, joinerPass string, err error) {
	if a.g.user == "" {
		return "", "", "", "", usagef("no user: use --user ID or set KEYWARDEN_USER")
	}
	memberPass, err = a.secret(secretSource{what: "passphrase", flag: "passphrase-file", file: a.g.passFile, env: "KEYWARDEN_PASSPHRASE"})
	if err != nil {
		return "", "", "", "", err
	}
	joinerUser, joinerPass = a.g.user, memberPass
	if fl.joinerUser != "" {
		joinerUser = fl.joinerUser
	}
	if fl.joinerPassFile != "" || a.getenv("KEYWARDEN_JOINER_PASSPHRASE") != "" {
		src := secretSource{what: "joiner passphrase", flag: "joiner-passphrase-file", file: fl.joinerPassFile, env: "KEYWARDEN_JOINER_PASSPHRASE"}
		if joinerPass, err = a.secret(src); err != nil {
			return "", "", "", "", err
		}
	}
	return a.g.user, memberPass, joinerUser, joinerPass, nil
}

// nodeClient builds an unauthenticated client for the appliance at apiURL
// with the global TLS choice (--ca or --insecure), and with --ca also
// trusting extraCA: once fulljoin has installed a certificate from the
// operator's CA, the appliance presents that one.
func (a *app) nodeClient(apiURL string, extraCA []byte, timeout time.Duration) (*client.Client, error) {
	b := *a
	b.g.url = apiURL
	opts := client.Options{URL: apiURL, Timeout: timeout, Insecure: a.g.insecure}
	if err := b.tlsTrust(&opts); err != nil {
		return nil, err
	}
	if len(opts.CACertPEM) > 0 {
		opts.CACertPEM = append(append(opts.CACertPEM, '\n'), extraCA...)
	}
	c, err := client.New(opts)
	if err != nil {
		return nil, usagef("%s: %v", apiURL, err)
	}
	return c, nil
}

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
	steps := []joinStep{
		{"certify the member", j.certifyMember, fixed("the joiner is unchanged; rerunning fulljoin is safe")},
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
	return j.certify(ctx, j.member, "member", j.fl.memberPeer, j.fl.member)
}

func (j *fullJoin) certifyJoiner(ctx context.Context) error {
	j.say("joiner: certifying it for %s and installing the CA", j.fl.joinerPeer)
	return j.certify(ctx, j.joiner, "joiner", j.fl.joinerPeer, j.fl.joiner)
}

// certify has the node make a certificate request for its TLS key, signs
// it here for the peer address (and the API host, which then keeps
// verifying), and installs the certificate, then the CA it chains to.
func (j *fullJoin) certify(ctx context.Context, c *client.Client, who, peerURL, apiURL string) error {
	peerHost := hostOf(peerURL)
	csr, err := c.TLSCSR(ctx, client.DistinguishedName{CommonName: peerHost})
	if err != nil {
		return fmt.Errorf("get the %s's certificate request: %w; nothing changed", who, err)
	}
	cert, err := j.ca.signPeer(csr, []string{peerHost, hostOf(apiURL)}, j.a.now())
	if err != nil {
		return fmt.Errorf("certify the %s: %w; nothing changed", who, err)
	}
	if err := c.SetTLSCert(ctx, cert); err != nil {
		return fmt.Errorf("install the %s's certificate: %w; it keeps its old one", who, err)
	}
	if err := c.SetClusterCA(ctx, j.ca.certPEM); err != nil {
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
