package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keywarden/keywarden/appliance/client"
)

// joinRequestLimit bounds POST /cluster/join: the appliance answers only
// once its new store member has caught up and been promoted (up to two
// minutes and one minute), far beyond an ordinary request.
const joinRequestLimit = 4 * time.Minute

func clusterCommands() []*command {
	return []*command{
		{name: "members", summary: "list the cluster's members", run: cmdClusterMembers},
		{name: "status", summary: "print every member's state as this appliance sees it (no login needed unless Operational)", run: cmdClusterStatus},
		{name: "add", args: "--url PEER-URL [--out FILE]",
			summary: "register a new member as a learner; prints the join kit (JSON) for cluster join", run: cmdClusterAdd},
		{name: "join", args: "--kit-file FILE [--backup-passphrase-file FILE]",
			summary: "join the cluster that registered this appliance; its own keys, users and settings are replaced", run: cmdClusterJoin},
		{name: "fulljoin", args: "--member URL --joiner URL --joiner-peer https://IP:PORT [--ca-cert FILE --ca-key FILE [--member-peer https://IP:PORT]] " +
			"[--joiner-user ID] [--joiner-passphrase-file FILE] [--backup-passphrase-file FILE] [--wait DURATION]",
			summary: fullJoinSummary, run: cmdClusterFullJoin},
		{name: "promote", args: "ID", summary: "make a learner a voting member", run: cmdClusterPromote},
		{name: "update", args: "ID --url PEER-URL", summary: "change a member's peer URLs", run: cmdClusterUpdate},
		{name: "remove", args: "ID", summary: "remove a member from the cluster for good", run: cmdClusterRemove},
		{name: "force-new", args: "--yes [--unlock-passphrase-file FILE]",
			summary: "restart a Failed member as a cluster of one with the data it has (authenticates with the unlock passphrase)", run: cmdClusterForceNew},
		{name: "ca", args: "[--out FILE]", summary: "print the cluster CA certificate", run: cmdClusterCA},
		{name: "set-ca", args: "FILE", summary: "install the cluster CA certificate (PEM); it must sign this appliance's TLS certificate", run: cmdClusterSetCA},
		{name: "generate-ca", args: "[--out FILE]", summary: "have the cluster make a CA whose key it holds (only while it has one member); " +
			"re-certifies this appliance with it and prints the CA", run: cmdClusterGenerateCA},
		{name: "sign-csr", args: "--csr FILE --ip IP [--dns NAME] [--out FILE]", summary: "have the cluster's own CA certify a node's key for its peers; " +
			"prints the chain for config tls set-cert on that node", run: cmdClusterSignCSR},
	}
}

// backupSource is where the cluster's backup passphrase comes from.
func backupSource(file string) secretSource {
	return secretSource{what: "backup passphrase", flag: "backup-passphrase-file", file: file, env: "KEYWARDEN_BACKUP_PASSPHRASE"}
}

func cmdClusterMembers(ctx context.Context, a *app, args []string) error {
	c, _, err := a.start(args, 0, 0, true)
	if err != nil {
		return err
	}
	members, err := c.ClusterMembers(ctx)
	if err != nil {
		return fmt.Errorf("list cluster members: %w", err)
	}
	if members == nil {
		members = []client.ClusterMember{}
	}
	return a.emit(members, func(w io.Writer) {
		table(w, "ID\tNAME\tROLE\tPEER URLS", func(row func(...any)) {
			for _, m := range members {
				row(m.ID, orDash(m.Name), role(m.Learner), orDash(strings.Join(m.URLs, ",")))
			}
		})
	})
}

// cmdClusterStatus authenticates only when a user is given: the appliance
// answers anyone while it is not Operational, which is when an operator
// most needs the answer and may have no working login.
func cmdClusterStatus(ctx context.Context, a *app, args []string) error {
	c, _, err := a.start(args, 0, 0, a.g.user != "")
	if err != nil {
		return err
	}
	st, err := c.ClusterStatus(ctx)
	if err != nil {
		return fmt.Errorf("get cluster status: %w", err)
	}
	return a.emit(st, func(w io.Writer) { printClusterStatus(w, st) })
}

func printClusterStatus(w io.Writer, st client.ClusterStatus) {
	fmt.Fprintf(w, "self:   %s\nleader: %s\n", st.Self, orDash(st.Leader))
	table(w, "ID\tNAME\tROLE\tSTATE\tAPPLIANCE\tLAG\tCLOCK\tHEARTBEAT", func(row func(...any)) {
		for _, m := range st.Members {
			state := m.State
			if m.Stage != "" {
				state += " (" + m.Stage + ")"
			}
			lag, clock, beat := "-", "-", "-"
			if m.RaftIndexLag != nil {
				lag = fmt.Sprint(*m.RaftIndexLag)
			}
			if m.ClockOffsetMs != nil {
				clock = fmt.Sprintf("%+dms", *m.ClockOffsetMs)
			}
			if m.ID != st.Self && m.ClockOffsetMs != nil {
				beat = fmt.Sprintf("%dms ago", m.LastHeartbeatMs)
			}
			row(m.ID, orDash(m.Name), role(m.Learner), state, orDash(m.ApplianceState), lag, clock, beat)
		}
	})
}

// table prints a header and the rows that fill adds, in aligned columns.
func table(w io.Writer, header string, fill func(row func(...any))) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	fill(func(cells ...any) {
		for i, c := range cells {
			if i > 0 {
				fmt.Fprint(tw, "\t")
			}
			fmt.Fprint(tw, c)
		}
		fmt.Fprintln(tw)
	})
	_ = tw.Flush()
}

func role(learner bool) string {
	if learner {
		return "learner"
	}
	return "voter"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// cmdClusterAdd prints the whole answer as JSON whatever --json says: it is
// the file that cluster join reads. The joiner kit is sealed under the
// backup passphrase, but it is written readable by its owner only anyway.
func cmdClusterAdd(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags()
	var urls listFlag
	fs.Var(&urls, "url", "the new member's peer `URL`, like https://192.0.2.7:2380 (required; comma-separated or repeated)")
	out := fs.String("out", "", "write the join kit to `FILE` (mode 0600) instead of stdout")
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	if len(urls) == 0 {
		return usagef("cluster add: --url is required")
	}
	c, err := a.client(true)
	if err != nil {
		return err
	}
	added, err := c.AddClusterMember(ctx, urls)
	if err != nil {
		return fmt.Errorf("add cluster member: %w", err)
	}
	b, err := json.MarshalIndent(added, "", "  ")
	if err != nil {
		return fmt.Errorf("encode join kit: %w", err)
	}
	b = append(b, '\n')
	if *out == "" {
		if _, err := a.stdout.Write(b); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
		return nil
	}
	if err := writeFile(*out, b); err != nil {
		return err
	}
	return a.done("registered learner %s at %s; join kit written to %s", memberAt(added.Members, urls[0]), strings.Join(urls, ","), *out)
}

// memberAt returns the ID of the member with peer URL u, or "?".
func memberAt(members []client.ClusterMember, u string) string {
	for _, m := range members {
		for _, mu := range m.URLs {
			if mu == u {
				return m.ID
			}
		}
	}
	return "?"
}

func cmdClusterJoin(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags()
	kitFile := fs.String("kit-file", "", "the output of cluster add on a member, from `FILE` (\"-\" for stdin; required)")
	backupFile := fs.String("backup-passphrase-file", "", "read the cluster's backup passphrase from `FILE` (else env KEYWARDEN_BACKUP_PASSPHRASE)")
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	if *kitFile == "" {
		return usagef("cluster join: --kit-file is required")
	}
	kit, err := a.readKit(*kitFile)
	if err != nil {
		return err
	}
	backup, err := a.secret(backupSource(*backupFile))
	if err != nil {
		return err
	}
	c, err := a.clientWithin(joinRequestLimit)
	if err != nil {
		return err
	}
	req := client.ClusterJoinRequest{Members: kit.Members, JoinerKit: kit.JoinerKit, BackupPassphrase: backup}
	if err := c.JoinCluster(ctx, req); err != nil {
		return fmt.Errorf("join cluster: %w", err)
	}
	return a.done("joined; the appliance is Locked: unlock it with the cluster's unlock passphrase")
}

// readKit reads and checks the output of cluster add.
func (a *app) readKit(file string) (client.ClusterMemberAdded, error) {
	var kit client.ClusterMemberAdded
	b, err := a.readInput(file)
	if err != nil {
		return kit, err
	}
	if err := json.Unmarshal(b, &kit); err != nil {
		return kit, usagef("cluster join: --kit-file %s: not the JSON that cluster add prints: %v", file, err)
	}
	if kit.JoinerKit == "" || len(kit.Members) == 0 {
		return kit, usagef("cluster join: --kit-file %s: members or joinerKit missing; pass the output of cluster add unchanged", file)
	}
	return kit, nil
}

// clientWithin builds the authenticated client for a request that may take
// up to limit, however short the --timeout for ordinary requests is.
func (a *app) clientWithin(limit time.Duration) (*client.Client, error) {
	b := *a
	b.g.timeout = max(a.g.timeout, limit)
	return b.client(true)
}

func cmdClusterPromote(ctx context.Context, a *app, args []string) error {
	c, pos, err := a.start(args, 1, 1, true)
	if err != nil {
		return err
	}
	if err := c.PromoteClusterMember(ctx, pos[0]); err != nil {
		return fmt.Errorf("promote cluster member %s: %w", pos[0], err)
	}
	return a.done("member %s promoted to a voter", pos[0])
}

func cmdClusterUpdate(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags()
	var urls listFlag
	fs.Var(&urls, "url", "the member's new peer `URL` (required; comma-separated or repeated)")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if len(urls) == 0 {
		return usagef("cluster update: --url is required")
	}
	c, err := a.client(true)
	if err != nil {
		return err
	}
	if err := c.UpdateClusterMember(ctx, pos[0], urls); err != nil {
		return fmt.Errorf("update cluster member %s: %w", pos[0], err)
	}
	return a.done("member %s now at %s", pos[0], strings.Join(urls, ","))
}

func cmdClusterRemove(ctx context.Context, a *app, args []string) error {
	c, pos, err := a.start(args, 1, 1, true)
	if err != nil {
		return err
	}
	if err := c.RemoveClusterMember(ctx, pos[0]); err != nil {
		return fmt.Errorf("remove cluster member %s: %w", pos[0], err)
	}
	return a.done("member %s removed", pos[0])
}

// cmdClusterForceNew authenticates like every destructive action of a
// Failed appliance: no user store can be read, so the Basic password is the
// unlock passphrase and the user name is not checked (--user when given,
// else "admin").
func cmdClusterForceNew(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags()
	yes := fs.Bool("yes", false, "confirm that writes only the lost members received are given up")
	file := fs.String("unlock-passphrase-file", "", "read the unlock passphrase from `FILE` (else env KEYWARDEN_UNLOCK_PASSPHRASE)")
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	if !*yes {
		return usagef("cluster force-new makes this member a cluster of one and gives up writes only the lost members received; add --yes to confirm")
	}
	pass, err := a.secret(unlockSource(*file))
	if err != nil {
		return err
	}
	c, err := a.client(false)
	if err != nil {
		return err
	}
	user := a.g.user
	if user == "" {
		user = "admin"
	}
	if err := c.WithCredentials(user, pass).ForceNewCluster(ctx); err != nil {
		return fmt.Errorf("force new cluster: %w", err)
	}
	return a.done("the store restarted as a cluster of one with this member's data")
}
