package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/keywarden/keywarden/appliance/client"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the request or a local step failed
	exitUsage = 2 // the command line was wrong or incomplete
)

// app is one kwctl invocation: its I/O, environment and global flags.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	now            func() time.Time

	g   globals
	cmd *command // the leaf command being run, for its usage text
}

// globals are the flags that come before the command.
type globals struct {
	url      string
	user     string
	passFile string
	caFile   string
	insecure bool
	json     bool
	timeout  time.Duration
}

// command is one entry of the dispatch table: a leaf with run, or a group
// with subs.
type command struct {
	name    string
	args    string // synopsis of flags and arguments after the name
	summary string
	run     func(ctx context.Context, a *app, args []string) error
	subs    []*command

	path string // full command words, filled in by index
}

// usageError is a command line that cannot work; it exits with exitUsage.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// run executes the command line and returns the exit code.
func (a *app) run(ctx context.Context, args []string) int {
	err := a.dispatch(ctx, args)
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(a.stderr, "kwctl: %s\n", ue.msg)
		fmt.Fprintf(a.stderr, "Run 'kwctl help%s' for usage.\n", a.helpSuffix())
		return exitUsage
	default:
		fmt.Fprintf(a.stderr, "kwctl: %v\n", err)
		return exitError
	}
}

func (a *app) helpSuffix() string {
	if a.cmd == nil {
		return ""
	}
	return " " + a.cmd.path
}

func (a *app) dispatch(ctx context.Context, args []string) error {
	fs := a.globalFlags()
	if err := a.parseFlags(fs, args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		a.printTopUsage(a.stderr)
		return usagef("no command given")
	}
	if rest[0] == "help" {
		return a.help(rest[1:])
	}
	cmd, args, err := lookup(commands(), rest)
	if cmd != nil {
		a.cmd = cmd // so a usage error points at the right help
	}
	if err != nil {
		return err
	}
	if cmd.run == nil {
		return a.groupUsage(cmd, args)
	}
	return cmd.run(ctx, a, args)
}

func (a *app) globalFlags() *flag.FlagSet {
	fs := flag.NewFlagSet("kwctl", flag.ContinueOnError)
	url := a.getenv("KEYWARDEN_URL")
	if url == "" {
		url = client.DefaultURL
	}
	fs.StringVar(&a.g.url, "url", url, "API base `URL` (env KEYWARDEN_URL)")
	fs.StringVar(&a.g.user, "user", a.getenv("KEYWARDEN_USER"), "user `ID` to authenticate as (env KEYWARDEN_USER)")
	fs.StringVar(&a.g.passFile, "passphrase-file", "", "read the user's passphrase from `FILE` (else env KEYWARDEN_PASSPHRASE)")
	fs.StringVar(&a.g.caFile, "ca", "", "trust the appliance certificate or CA in PEM `FILE`")
	fs.BoolVar(&a.g.insecure, "insecure", false, "do not verify the appliance's TLS certificate")
	fs.BoolVar(&a.g.json, "json", false, "print answers as JSON")
	fs.DurationVar(&a.g.timeout, "timeout", 30*time.Second, "limit for each request")
	return fs
}

// lookup walks the dispatch table along args and returns the deepest
// command named, with the arguments left after it.
func lookup(table []*command, args []string) (*command, []string, error) {
	var cur *command
	subs := table
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		next := find(subs, args[0])
		if next == nil {
			if cur == nil {
				return nil, nil, usagef("unknown command %q", args[0])
			}
			if cur.run != nil {
				break // a positional argument of a leaf command
			}
			return cur, nil, usagef("%s: unknown subcommand %q", cur.path, args[0])
		}
		cur, subs, args = next, next.subs, args[1:]
		if cur.run != nil {
			break
		}
	}
	if cur == nil {
		return nil, nil, usagef("no command given")
	}
	return cur, args, nil
}

func find(table []*command, name string) *command {
	for _, c := range table {
		if c.name == name {
			return c
		}
	}
	return nil
}
