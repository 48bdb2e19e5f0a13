package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"

	"github.com/keywarden/keywarden/appliance/api"
	"github.com/keywarden/keywarden/cluster"
	"github.com/keywarden/keywarden/systemd"
)

// witnessUsage is what `keywardend witness -h` prints before the flags: the
// operator's guide to the mode.
const witnessUsage = `usage: keywardend witness --name NAME --data-dir DIR --peer-listen IP:PORT
                          --cert FILE --key FILE --ca FILE [--members-json FILE]

A witness is a voting member of a Keywarden cluster's store that runs no key
service: it stores only ciphertext, serves no API and opens no port besides
the peer port (etcd's client socket stays private, inside the data dir). It
lets two appliances keep a quorum when one of them is down.

First start (the data dir holds no member yet): register the witness on an
appliance with POST /cluster/members, giving https://IP:PORT of
--peer-listen, and pass the response as --members-json. The witness joins as
the learner registered at that URL, catches up, and votes once an appliance
promotes it (appliances do so by themselves). The response's joinerKit is
not used; the witness holds no key material of the appliances.

Later starts (the data dir holds the member): --members-json is optional and
ignored; the witness rejoins with its own data.

Peers authenticate each other with mutual TLS: --cert must be signed by the
cluster CA (--ca), be valid for server and client authentication and name the
--peer-listen IP address. Keep --key on a tmpfs or pass it as a systemd
credential (LoadCredential=); the witness refuses a key file that its group
or others may read.

`

// witnessFlags are the witness's command line.
type witnessFlags struct {
	name, dataDir, peerListen string
	certFile, keyFile, caFile string
	membersFile               string
	level                     slog.Level
}

// parseWitnessFlags reads the witness's flags and reports every missing one
// at once.
func parseWitnessFlags(args []string, stderr io.Writer) (witnessFlags, error) {
	fs := flag.NewFlagSet("keywardend witness", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, witnessUsage)
		fs.PrintDefaults()
	}
	var f witnessFlags
	fs.StringVar(&f.name, "name", "", "member name, unique in the cluster (letters, digits, '.', '_', '-')")
	fs.StringVar(&f.dataDir, "data-dir", "", "directory for the member's data (created 0700)")
	fs.StringVar(&f.peerListen, "peer-listen", "", "IP:PORT peers reach this witness on, as registered")
	fs.StringVar(&f.certFile, "cert", "", "PEM peer certificate issued by the cluster CA")
	fs.StringVar(&f.keyFile, "key", "", "PEM private key of --cert; keep it on a tmpfs or in a systemd credential, mode 0600 or stricter")
	fs.StringVar(&f.caFile, "ca", "", "PEM certificate of the cluster CA")
	fs.StringVar(&f.membersFile, "members-json", "", "response of the POST /cluster/members that registered this witness; needed on first start only, ignored later")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("witness: unexpected arguments: %v", fs.Args())
	}
	if err := f.level.UnmarshalText([]byte(*logLevel)); err != nil {
		return f, fmt.Errorf("witness: --log-level: %w", err)
	}
	return f, f.missing()
}

// missing reports every required flag that was not given.
func (f witnessFlags) missing() error {
	required := []struct{ flag, value string }{
		{"--name", f.name}, {"--data-dir", f.dataDir}, {"--peer-listen", f.peerListen},
		{"--cert", f.certFile}, {"--key", f.keyFile}, {"--ca", f.caFile},
	}
	var errs []error
	for _, r := range required {
		if r.value == "" {
			errs = append(errs, fmt.Errorf("witness: %s is required", r.flag))
		}
	}
	return errors.Join(errs...)
}

// readPeerTLS reads the three PEM files, reporting every problem at once.
func readPeerTLS(f witnessFlags) (*cluster.PeerTLS, error) {
	var p cluster.PeerTLS
	var errCert, errKey, errCA error
	p.Cert, errCert = os.ReadFile(f.certFile)
	p.Key, errKey = readPrivateFile(f.keyFile)
	p.CA, errCA = os.ReadFile(f.caFile)
	if err := errors.Join(errCert, errKey, errCA); err != nil {
		return nil, fmt.Errorf("witness: read peer TLS files: %w", err)
	}
	return &p, nil
}

// readPrivateFile reads a file holding a secret, refusing one that its
// group or others may read: such a key may already have leaked, and a
// witness that accepted it would hide that. The mode is taken from the open
// file, so it is the mode of what is read.
func readPrivateFile(path string) ([]byte, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	info, err := file.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("key file %s is not a regular file", path)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("key file %s has mode %#o: it must not be readable by group or others (chmod 600, or pass it as a systemd credential)", path, perm)
	}
	return io.ReadAll(io.LimitReader(file, maxKeyFile))
}

// maxKeyFile bounds the key file read: a PEM private key is a few KiB.
const maxKeyFile = 64 << 10

// registration is the body of the POST /cluster/members response that
// registered the witness. Its joinerKit is not decoded: it is for appliances.
type registration struct {
	Members []api.ClusterMember `json:"members"`
}

// loadMembers reads the cluster's members from the registration response.
func loadMembers(path string) ([]cluster.MemberInfo, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("witness: --members-json: %w", err)
	}
	var reg registration
	if err := json.Unmarshal(data, &reg); err != nil {
		return nil, fmt.Errorf("witness: --members-json %s: want the JSON response of POST /cluster/members: %w", path, err)
	}
	if len(reg.Members) == 0 {
		return nil, fmt.Errorf("witness: --members-json %s: no \"members\": want the JSON response of POST /cluster/members", path)
	}
	members := make([]cluster.MemberInfo, 0, len(reg.Members))
	for _, cm := range reg.Members {
		id, err := cluster.ParseMemberID(cm.ID)
		if err != nil {
			return nil, fmt.Errorf("witness: --members-json %s: %w", path, err)
		}
		members = append(members, cluster.MemberInfo{ID: id, Name: cm.Name, PeerURLs: cm.URLs, IsLearner: cm.Learner})
	}
	return members, nil
}

// findLearner returns the member registered at exactly peerURL, which must
// still be a learner: a voter there has joined already and restarts from its
// own data dir.
func findLearner(members []cluster.MemberInfo, peerURL string) (cluster.MemberInfo, error) {
	i := slices.IndexFunc(members, func(mi cluster.MemberInfo) bool { return slices.Equal(mi.PeerURLs, []string{peerURL}) })
	switch {
	case i < 0:
		return cluster.MemberInfo{}, fmt.Errorf("witness: --members-json names no member at %s: register the witness with exactly that peer URL (from --peer-listen)", peerURL)
	case !members[i].IsLearner:
		return cluster.MemberInfo{}, fmt.Errorf("witness: --members-json: member %s at %s is a voter, not a learner waiting to join: a member that already joined restarts from its data dir", cluster.FormatMemberID(members[i].ID), peerURL)
	}
	return members[i], nil
}

// witnessConfig turns the flags into the member's configuration: a join as
// the registered learner on first start, a plain start later. It reads
// files but writes nothing.
func witnessConfig(f witnessFlags, logger *slog.Logger) (cluster.Config, error) {
	peerTLS, err := readPeerTLS(f)
	if err != nil {
		return cluster.Config{}, err
	}
	cfg := cluster.Config{Name: f.name, DataDir: f.dataDir, PeerListen: f.peerListen, PeerTLS: peerTLS, Logger: logger.With("component", "etcd")}
	// The member's own settings first: a certificate problem is the likelier
	// mistake, and its message is clearer than a peer URL mismatch.
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("witness: %w", err)
	}
	restart, err := cluster.HasMemberData(f.dataDir)
	if err != nil || restart {
		if restart && f.membersFile != "" {
			logger.Info("the data dir holds a member: ignoring --members-json", "dataDir", f.dataDir)
		}
		return cfg, err
	}
	cfg.InitialCluster, err = initialCluster(f)
	cfg.Join = err == nil
	return cfg, err
}

// initialCluster returns, for the first start, the cluster to join as the
// learner registered at this witness's peer URL.
func initialCluster(f witnessFlags) (map[string][]string, error) {
	if f.membersFile == "" {
		return nil, fmt.Errorf("witness: %s holds no member yet: --members-json is required to join the cluster", f.dataDir)
	}
	members, err := loadMembers(f.membersFile)
	if err != nil {
		return nil, err
	}
	learner, err := findLearner(members, "https://"+f.peerListen)
	if err != nil {
		return nil, err
	}
	initial, err := cluster.InitialClusterFor(members, learner.ID, f.name)
	if err != nil {
		return nil, fmt.Errorf("witness: --members-json: %w", err)
	}
	return initial, nil
}

// runWitness runs the witness until ctx ends, logging as JSON to stderr. Every problem with the command line or the files it names
// is reported before anything is written.
func runWitness(ctx context.Context, args []string, stderr io.Writer) error {
	f, err := parseWitnessFlags(args, stderr)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: f.level}))
	cfg, err := witnessConfig(f, logger)
	if err != nil {
		return err
	}
	m, err := cluster.New(cfg)
	if err != nil {
		return fmt.Errorf("witness: %w", err)
	}
	w := &witness{member: m, name: cfg.Name, join: cfg.Join, log: logger, notify: systemd.New(logger)}
	return w.run(ctx)
}

// witness is a running witness member.
type witness struct {
	member *cluster.Member
	name   string
	join   bool // first start: joining as the registered learner
	log    *slog.Logger
	notify *systemd.Notifier
}

// run starts the member, reports readiness and serves until ctx ends, then
// stops cleanly. A ctx that ends, also while starting, is not an error.
func (w *witness) run(ctx context.Context) error {
	if err := w.start(ctx); err != nil {
		closeErr := w.member.Close()
		if ctx.Err() != nil {
			w.log.Info("stopped before the member served", "reason", "signal")
			return closeErr
		}
		return errors.Join(fmt.Errorf("witness: %w", err), closeErr)
	}
	_ = w.notify.Ready()
	var wg sync.WaitGroup
	wg.Go(func() { w.awaitVote(ctx) })
	wg.Go(func() { w.watchdog(ctx) })
	<-ctx.Done()
	_ = w.notify.Stopping()
	_ = w.notify.Status("stopping")
	w.log.Info("stopping", "reason", "signal")
	wg.Wait()
	if err := w.member.Close(); err != nil {
		return fmt.Errorf("witness: %w", err)
	}
	w.log.Info("stopped")
	return nil
}

// start starts the member: joining, it returns once the learner has caught
// up; restarting, once the cluster has quorum.
func (w *witness) start(ctx context.Context) error {
	attrs := []any{"name", w.name, "dataDir", w.member.DataDir(), "peerURL", w.member.PeerURL()}
	if w.join {
		w.log.Info("joining the cluster as the registered learner", attrs...)
		_ = w.notify.Status("joining the cluster as a learner (catching up)")
	} else {
		w.log.Info("starting from member data; waiting for a quorum of the cluster", attrs...)
		_ = w.notify.Status("starting: waiting for a quorum of the cluster")
	}
	if err := w.member.Start(ctx); err != nil {
		return err
	}
	id := cluster.FormatMemberID(w.member.ID())
	if w.join {
		w.log.Info("joined as a learner; waiting for promotion (appliances promote a caught-up learner automatically)", "member", id)
		_ = w.notify.Status("learner " + id + ": waiting for promotion")
	} else {
		w.log.Info("member serves", "member", id)
		_ = w.notify.Status("member " + id + " serves")
	}
	return nil
}

// awaitVote logs when the member votes: at once for a voter, after its
// promotion for a learner.
func (w *witness) awaitVote(ctx context.Context) {
	if err := w.member.AwaitPromotion(ctx); err != nil {
		return // ctx ended: the witness is stopping
	}
	id := cluster.FormatMemberID(w.member.ID())
	w.log.Info("witness votes", "member", id)
	_ = w.notify.Status("voting member " + id + " (witness: stores ciphertext only)")
}

// watchdog pings systemd's watchdog while the member answers status
// queries, so systemd restarts a wedged witness.
func (w *witness) watchdog(ctx context.Context) {
	err := w.notify.RunWatchdog(ctx, func() bool {
		_, err := w.member.Status(ctx) // Status bounds its own call
		return err == nil
	})
	if err != nil {
		w.log.Warn("systemd watchdog disabled", "err", err)
	}
}
