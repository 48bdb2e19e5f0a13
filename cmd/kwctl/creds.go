package main

import (
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/keywarden/keywarden/appliance/client"
)

// secretSource says where one passphrase may come from: a file named by a
// flag, else an environment variable. There is deliberately no way to give
// it as a flag value: command lines are visible to every local user.
type secretSource struct {
	what string // for messages: "passphrase", "unlock passphrase", ...
	flag string // flag naming the file, without dashes
	file string // value of that flag
	env  string // environment variable
}

// secret resolves src: the file wins over the environment. One trailing
// line break is dropped from a file, since editors and echo add it.
func (a *app) secret(src secretSource) (string, error) {
	if src.file != "" {
		b, err := os.ReadFile(src.file)
		if err != nil {
			return "", fmt.Errorf("read %s: %w", src.what, err)
		}
		s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if s == "" {
			return "", usagef("%s file %s is empty", src.what, src.file)
		}
		return s, nil
	}
	if s := a.getenv(src.env); s != "" {
		return s, nil
	}
	return "", usagef("no %s: use --%s FILE or set %s", src.what, src.flag, src.env)
}

// client builds an API client from the global flags. With auth it also
// resolves the user and passphrase and refuses to go on without them.
func (a *app) client(auth bool) (*client.Client, error) {
	opts := client.Options{URL: a.g.url, Timeout: a.g.timeout, Insecure: a.g.insecure}
	if err := a.tlsTrust(&opts); err != nil {
		return nil, err
	}
	if auth {
		if a.g.user == "" {
			return nil, usagef("no user: use --user ID or set KEYWARDEN_USER")
		}
		pass, err := a.secret(secretSource{what: "passphrase", flag: "passphrase-file", file: a.g.passFile, env: "KEYWARDEN_PASSPHRASE"})
		if err != nil {
			return nil, err
		}
		opts.User, opts.Passphrase = a.g.user, pass
	}
	c, err := client.New(opts)
	if err != nil {
		return nil, usagef("%v", err)
	}
	if opts.Insecure {
		fmt.Fprintf(a.stderr, "kwctl: warning: --insecure: the certificate of %s is not verified\n", c.URL())
	}
	return c, nil
}

// tlsTrust makes the operator choose, for an https URL, between pinning a
// certificate and explicitly not verifying: a silent fallback to either
// would be wrong for an appliance that ships a self-signed certificate.
func (a *app) tlsTrust(opts *client.Options) error {
	u, err := url.Parse(a.g.url)
	if err != nil {
		return usagef("--url: %v", err)
	}
	switch {
	case u.Scheme != "https":
		return nil
	case a.g.caFile != "" && a.g.insecure:
		return usagef("--ca and --insecure exclude each other")
	case a.g.caFile == "" && !a.g.insecure:
		return usagef("refusing to connect to %s without a way to check its certificate: "+
			"use --ca FILE (the appliance certificate or its CA) or, knowingly, --insecure", u.Host)
	case a.g.insecure:
		return nil
	}
	pemBytes, err := os.ReadFile(a.g.caFile)
	if err != nil {
		return fmt.Errorf("read --ca: %w", err)
	}
	opts.CACertPEM = pemBytes
	return nil
}
