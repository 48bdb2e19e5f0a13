package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// parseFlags parses fs quietly: kwctl prints usage itself, to stdout when
// asked for with -h and to stderr for mistakes.
func (a *app) parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		if a.cmd == nil {
			a.printTopUsage(a.stdout)
		} else {
			a.printLeafUsage(a.stdout, fs)
		}
		return flag.ErrHelp
	case a.cmd == nil:
		return usagef("%v", err)
	default:
		return usagef("%s: %v", a.cmd.path, err)
	}
}

// newFlags starts the flag set of the leaf command being run.
func (a *app) newFlags() *flag.FlagSet {
	return flag.NewFlagSet("kwctl "+a.cmd.path, flag.ContinueOnError)
}

// parse parses a leaf's flags, which may come before, between or after its
// positional arguments, and checks that there are min to max positionals.
func (a *app) parse(fs *flag.FlagSet, args []string, minArgs, maxArgs int) ([]string, error) {
	var pos []string
	for {
		if err := a.parseFlags(fs, args); err != nil {
			return nil, err
		}
		consumed := len(args) - fs.NArg()
		rest := fs.Args()
		if consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...) // everything after "--" is positional
			break
		}
		if len(rest) == 0 {
			break
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
	if len(pos) < minArgs || len(pos) > maxArgs {
		return nil, usagef("%s: wrong number of arguments; usage: kwctl %s %s", a.cmd.path, a.cmd.path, a.cmd.args)
	}
	return pos, nil
}

// help prints the usage of the command named by args, or of kwctl.
func (a *app) help(args []string) error {
	if len(args) == 0 {
		a.printTopUsage(a.stdout)
		return nil
	}
	cmd, _, err := lookup(commands(), args)
	if err != nil {
		return err
	}
	a.cmd = cmd
	if cmd.run == nil {
		return a.groupUsage(cmd, []string{"-h"})
	}
	// Every leaf parses its flags first, so -h prints its usage and stops.
	return cmd.run(context.Background(), a, []string{"-h"})
}

// groupUsage handles a group named without a valid subcommand.
func (a *app) groupUsage(cmd *command, args []string) error {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		a.printGroupUsage(a.stdout, cmd)
		return flag.ErrHelp
	}
	a.printGroupUsage(a.stderr, cmd)
	if len(args) == 0 {
		return usagef("%s: missing subcommand", cmd.path)
	}
	return usagef("%s: unknown subcommand %q", cmd.path, args[0])
}

func (a *app) printTopUsage(w io.Writer) {
	fmt.Fprintf(w, "usage: kwctl [global flags] <command> [arguments]\n\nGlobal flags:\n")
	fs := a.globalFlags()
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprintf(w, "\nCommands:\n")
	listLeaves(w, commands())
	fmt.Fprintf(w, "\nRun 'kwctl help <command>' or 'kwctl <command> -h' for details.\n")
}

func (a *app) printGroupUsage(w io.Writer, cmd *command) {
	fmt.Fprintf(w, "usage: kwctl %s <subcommand> [arguments]\n\n%s\n\nSubcommands:\n", cmd.path, cmd.summary)
	listLeaves(w, cmd.subs)
}

func (a *app) printLeafUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: kwctl %s %s\n\n%s\n", a.cmd.path, a.cmd.args, a.cmd.summary)
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprintf(w, "\nFlags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
}

// listLeaves prints every runnable command under table with its summary.
func listLeaves(w io.Writer, table []*command) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	var walk func([]*command)
	walk = func(cmds []*command) {
		for _, c := range cmds {
			if c.run != nil {
				fmt.Fprintf(tw, "  %s\t%s\n", c.path, c.summary)
			}
			walk(c.subs)
		}
	}
	walk(table)
	_ = tw.Flush()
}

// index fills in the full path of every command below prefix.
func index(prefix string, table []*command) []*command {
	for _, c := range table {
		c.path = strings.TrimSpace(prefix + " " + c.name)
		index(c.path, c.subs)
	}
	return table
}
