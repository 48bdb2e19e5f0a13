// Command kwctl is the operator CLI of a Keywarden appliance. It speaks the
// appliance's REST API (/api/v1) through appliance/client.
//
//	kwctl [global flags] <command> [subcommand] [flags] [args]
//
// Passphrases are read from files or environment variables, never from the
// command line, where other local users could see them. Run "kwctl help".
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	a := &app{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, now: time.Now}
	code := a.run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
