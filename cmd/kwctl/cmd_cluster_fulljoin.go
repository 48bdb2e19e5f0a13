package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"time"

	"github.com/keywarden/keywarden/appliance/client"
)

const fullJoinSummary = "certify, register and join a new appliance in one go, with the CA the cluster holds itself " +
	"(the member generates one if it has none) or with your own (--ca-cert and --ca-key)"

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
	fs.StringVar(&f.memberPeer, "member-peer", "", "the member's peer `URL`; only with --ca-cert, when the member has no cluster CA yet and is certified too")
	fs.StringVar(&f.caCert, "ca-cert", "", "your own CA certificate, PEM `FILE`: kwctl certifies both nodes with it here, it becomes the cluster CA, "+
		"and with the global --ca it is trusted for their APIs too (with --ca-key; without both, the CA the cluster holds itself certifies the joiner)")
	fs.StringVar(&f.caKey, "ca-key", "", "the key of --ca-cert: PEM `FILE` (EC, RSA or PKCS #8, unencrypted) readable by its owner only")
	fs.StringVar(&f.joinerUser, "joiner-user", "", "Administrator `ID` on the joiner (default: --user)")
	fs.StringVar(&f.joinerPassFile, "joiner-passphrase-file", "", "read that user's passphrase from `FILE` (else env KEYWARDEN_JOINER_PASSPHRASE, else the member's passphrase)")
	fs.StringVar(&f.backupFile, "backup-passphrase-file", "", "read the cluster's backup passphrase from `FILE` (else env KEYWARDEN_BACKUP_PASSPHRASE)")
	fs.DurationVar(&f.wait, "wait", fullJoinWait, "how long to wait for the new member to be ready and voting, as a `DURATION`")
}

// clusterHeld reports whether the CA the cluster holds itself certifies
// the joiner: the operator named no CA of their own.
func (f *fullJoinFlags) clusterHeld() bool { return f.caCert == "" && f.caKey == "" }

// check reports the first problem of the command line itself.
func (f *fullJoinFlags) check() error {
	for _, req := range []struct{ name, value string }{
		{"member", f.member}, {"joiner", f.joiner}, {"joiner-peer", f.joinerPeer},
	} {
		if req.value == "" {
			return usagef("cluster fulljoin: --%s is required", req.name)
		}
	}
	if (f.caCert == "") != (f.caKey == "") {
		return usagef("cluster fulljoin: --ca-cert and --ca-key go together: give both to certify the nodes with your own CA, " +
			"or neither to use the CA the cluster holds itself")
	}
	if err := checkPeerURL("joiner-peer", f.joinerPeer); err != nil {
		return err
	}
	if err := f.checkMemberPeer(); err != nil {
		return err
	}
	switch {
	case f.clusterHeld() && net.ParseIP(hostOf(f.joinerPeer)) == nil:
		return usagef("cluster fulljoin: --joiner-peer %q: the cluster CA certifies peers by IP address; want https://IP:PORT", f.joinerPeer)
	case f.member == f.joiner:
		return usagef("cluster fulljoin: --member and --joiner name the same appliance")
	case f.memberPeer == f.joinerPeer:
		return usagef("cluster fulljoin: --member-peer and --joiner-peer name the same address")
	case f.wait <= 0:
		return usagef("cluster fulljoin: --wait must be positive")
	}
	return nil
}

// checkMemberPeer accepts --member-peer only where it is used: the
// cluster's own CA certifies the member for its --peer-listen address
// when the member generates it.
func (f *fullJoinFlags) checkMemberPeer() error {
	switch {
	case f.memberPeer == "":
		return nil
	case f.clusterHeld():
		return usagef("cluster fulljoin: --member-peer goes with --ca-cert and --ca-key; " +
			"with the cluster's own CA the member certifies itself for its --peer-listen address")
	}
	return checkPeerURL("member-peer", f.memberPeer)
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
	if j.ca == nil {
		fmt.Fprintf(a.stderr, "both nodes' API certificates are issued by the cluster CA: save it (kwctl --url %s cluster ca --out FILE) "+
			"and pass it with --ca to reach them\n", fl.member)
	}
	return a.emit(map[string]string{"id": id}, func(w io.Writer) { fmt.Fprintf(w, "joined: member %s ready\n", id) })
}

// fullJoin is one run of cluster fulljoin: everything it needs is resolved
// before the first request, so a missing passphrase never strands a
// half-joined node.
type fullJoin struct {
	a           *app
	fl          fullJoinFlags
	ca          *operatorCA // the operator's CA; nil when the cluster's own CA certifies
	backup      string
	memberLogin login
	joinerLogin login

	member     *client.Client
	joiner     *client.Client
	joinerLong *client.Client // for the join request, which waits for the store
	joinerAnon *client.Client // for the joiner's state, whatever its users are

	step, steps int
	clusterCA   []byte // the member's cluster CA (PEM) with the cluster's own CA, once step 1 has it
	memberID    string // the joiner's member ID, once registered
	added       client.ClusterMemberAdded
}

// login is one administrator's credentials.
type login struct{ user, pass string }

func (a *app) newFullJoin(fl fullJoinFlags) (*fullJoin, error) {
	j := &fullJoin{a: a, fl: fl}
	var err error
	if j.memberLogin, j.joinerLogin, err = a.fullJoinCredentials(fl); err != nil {
		return nil, err
	}
	if j.backup, err = a.secret(backupSource(fl.backupFile)); err != nil {
		return nil, err
	}
	var trust []byte
	if !fl.clusterHeld() {
		if j.ca, err = loadOperatorCA(fl.caCert, fl.caKey, a.now()); err != nil {
			return nil, err
		}
		trust = j.ca.certPEM
	}
	if err := j.connect(trust); err != nil {
		return nil, err
	}
	if a.g.insecure {
		fmt.Fprintf(a.stderr, "kwctl: warning: --insecure: the certificates of %s and %s are not verified\n", j.member.URL(), j.joiner.URL())
	}
	return j, nil
}

// connect builds the clients of both nodes, trusting extraCA besides the
// global --ca. It is called again once the cluster's own CA is known: the
// certificates the nodes present from then on are issued by it, and the
// old clients' pooled connections would hide that from verification.
func (j *fullJoin) connect(extraCA []byte) error {
	a := j.a
	member, err := a.nodeClient(j.fl.member, extraCA, a.g.timeout)
	if err != nil {
		return err
	}
	joiner, err := a.nodeClient(j.fl.joiner, extraCA, a.g.timeout)
	if err != nil {
		return err
	}
	joinerLong, err := a.nodeClient(j.fl.joiner, extraCA, max(a.g.timeout, joinRequestLimit))
	if err != nil {
		return err
	}
	for _, old := range []*client.Client{j.member, j.joinerAnon, j.joinerLong} {
		if old != nil {
			_ = old.Close()
		}
	}
	j.member = member.WithCredentials(j.memberLogin.user, j.memberLogin.pass)
	j.joiner = joiner.WithCredentials(j.joinerLogin.user, j.joinerLogin.pass)
	j.joinerLong = joinerLong.WithCredentials(j.joinerLogin.user, j.joinerLogin.pass)
	j.joinerAnon = joiner
	return nil
}

// fullJoinCredentials resolves both administrators: the member's from the
// global flags, the joiner's from its own flags with the member's as the
// default (two fresh appliances are often provisioned alike).
func (a *app) fullJoinCredentials(fl fullJoinFlags) (member, joiner login, err error) {
	if a.g.user == "" {
		return login{}, login{}, usagef("no user: use --user ID or set KEYWARDEN_USER")
	}
	member.user = a.g.user
	member.pass, err = a.secret(secretSource{what: "passphrase", flag: "passphrase-file", file: a.g.passFile, env: "KEYWARDEN_PASSPHRASE"})
	if err != nil {
		return login{}, login{}, err
	}
	joiner = member
	if fl.joinerUser != "" {
		joiner.user = fl.joinerUser
	}
	if fl.joinerPassFile != "" || a.getenv("KEYWARDEN_JOINER_PASSPHRASE") != "" {
		src := secretSource{what: "joiner passphrase", flag: "joiner-passphrase-file", file: fl.joinerPassFile, env: "KEYWARDEN_JOINER_PASSPHRASE"}
		if joiner.pass, err = a.secret(src); err != nil {
			return login{}, login{}, err
		}
	}
	return member, joiner, nil
}

// nodeClient builds an unauthenticated client for the appliance at apiURL
// with the global TLS choice (--ca or --insecure), and with --ca also
// trusting extraCA: once fulljoin has installed a certificate from the
// operator's CA or the cluster's own, the appliance presents that one.
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
