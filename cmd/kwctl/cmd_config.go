package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/keywarden/keywarden/appliance/client"
)

func tlsCommands() []*command {
	return []*command{
		{name: "public-pem", args: "[--out FILE]", summary: "print the TLS public key", run: cmdTLSPublicPEM},
		{name: "cert", args: "[--out FILE]", summary: "print the TLS certificate", run: cmdTLSCert},
		{name: "set-cert", args: "FILE", summary: "install a PEM certificate for the TLS key", run: cmdTLSSetCert},
		{name: "csr", args: "--cn NAME [subject flags] [--out FILE]", summary: "print a certificate signing request for the TLS key", run: cmdTLSCSR},
		{name: "generate", args: "--type TYPE [--length BITS]", summary: "replace the TLS key with a new one", run: cmdTLSGenerate},
	}
}

func timeCommands() []*command {
	return []*command{
		{name: "get", summary: "print the appliance time", run: cmdTimeGet},
		{name: "set", args: "[RFC3339-TIME]", summary: "set the appliance time (default: this machine's time)", run: cmdTimeSet},
	}
}

func cmdTLSPublicPEM(ctx context.Context, a *app, args []string) error {
	return a.fetchPEM(args, "get tls public key", func(c *client.Client) ([]byte, error) { return c.TLSPublicPEM(ctx) })
}

func cmdTLSCert(ctx context.Context, a *app, args []string) error {
	return a.fetchPEM(args, "get tls certificate", func(c *client.Client) ([]byte, error) { return c.TLSCert(ctx) })
}

// fetchPEM runs a command whose only flag is --out and whose answer is PEM.
func (a *app) fetchPEM(args []string, what string, get func(*client.Client) ([]byte, error)) error {
	fs := a.newFlags()
	out := fs.String("out", "", "write the PEM to `FILE`")
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	c, err := a.client(true)
	if err != nil {
		return err
	}
	p, err := get(c)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return a.emitPEM(p, *out)
}

func cmdTLSSetCert(ctx context.Context, a *app, args []string) error {
	c, pos, err := a.start(args, 1, 1, true)
	if err != nil {
		return err
	}
	cert, err := os.ReadFile(pos[0])
	if err != nil {
		return fmt.Errorf("read certificate: %w", err)
	}
	if err := c.SetTLSCert(ctx, cert); err != nil {
		return fmt.Errorf("set tls certificate: %w", err)
	}
	return a.done("tls certificate installed")
}

func cmdTLSCSR(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags()
	var dnf dnFlags
	dnf.register(fs)
	out := fs.String("out", "", "write the PEM to `FILE`")
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	dn, err := dnf.name(a.cmd.path)
	if err != nil {
		return err
	}
	c, err := a.client(true)
	if err != nil {
		return err
	}
	p, err := c.TLSCSR(ctx, dn)
	if err != nil {
		return fmt.Errorf("get tls csr: %w", err)
	}
	return a.emitPEM(p, *out)
}

func cmdTLSGenerate(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags()
	var req client.TLSKeyGenerateRequest
	fs.StringVar((*string)(&req.Type), "type", "", "key `TYPE`, e.g. RSA, EC_P256, Curve25519 (required)")
	fs.IntVar(&req.Length, "length", 0, "key length in `BITS` (RSA)")
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	if req.Type == "" {
		return usagef("config tls generate: --type is required")
	}
	c, err := a.client(true)
	if err != nil {
		return err
	}
	if err := c.GenerateTLSKey(ctx, req); err != nil {
		return fmt.Errorf("generate tls key: %w", err)
	}
	return a.done("new tls key generated")
}

func cmdTimeGet(ctx context.Context, a *app, args []string) error {
	c, _, err := a.start(args, 0, 0, true)
	if err != nil {
		return err
	}
	t, err := c.Time(ctx)
	if err != nil {
		return fmt.Errorf("get time: %w", err)
	}
	s := t.UTC().Format(time.RFC3339)
	return a.emit(map[string]string{"time": s}, func(w io.Writer) { fmt.Fprintln(w, s) })
}

func cmdTimeSet(ctx context.Context, a *app, args []string) error {
	c, pos, err := a.start(args, 0, 1, true)
	if err != nil {
		return err
	}
	t := a.now()
	if len(pos) == 1 {
		if t, err = time.Parse(time.RFC3339, pos[0]); err != nil {
			return usagef("config time set: %v", err)
		}
	}
	if err := c.SetTime(ctx, t); err != nil {
		return fmt.Errorf("set time: %w", err)
	}
	return a.done("time set to %s", t.UTC().Format(time.RFC3339))
}
