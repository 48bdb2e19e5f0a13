package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultURL is where a freshly installed appliance serves its API.
const DefaultURL = "https://127.0.0.1:8443/api/v1"

// DefaultMaxConns is the idle-connection pool size per host used when
// Options.MaxConns is zero: large enough that a load generator running
// dozens of goroutines does not churn TLS handshakes.
const DefaultMaxConns = 64

// Options configures New.
type Options struct {
	// URL is the API base including the version prefix, for example
	// https://10.0.0.5:8443/api/v1. Empty means DefaultURL.
	URL string
	// User and Passphrase are sent as HTTP Basic credentials on every
	// request when User is not empty.
	User       string
	Passphrase string
	// CACertPEM holds the certificates that may sign the appliance's TLS
	// certificate (a self-signed appliance certificate works as its own CA).
	// Empty means the system roots.
	CACertPEM []byte
	// Insecure skips TLS certificate verification. It cannot be combined
	// with CACertPEM, so a caller never believes it pinned a CA it ignores.
	Insecure bool
	// Timeout bounds each request including reading the body; zero means
	// no limit beyond the caller's context.
	Timeout time.Duration
	// MaxConns sizes the idle-connection pool and the TLS session cache;
	// zero means DefaultMaxConns.
	MaxConns int
	// DialContext opens connections; nil means a plain TCP dialer. (Tests
	// reach an appliance in another network namespace through it.)
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Client talks to one appliance as one user. It is safe for concurrent use.
type Client struct {
	base string // scheme://host[:port]/api/v1, no trailing slash
	user string
	pass string
	hc   *http.Client
}

// New checks opts and builds a Client. It opens no connection.
func New(opts Options) (*Client, error) {
	base, err := parseBase(opts.URL)
	if err != nil {
		return nil, err
	}
	tlsConf, err := tlsConfig(opts)
	if err != nil {
		return nil, err
	}
	maxConns := opts.MaxConns
	if maxConns <= 0 {
		maxConns = DefaultMaxConns
	}
	tlsConf.ClientSessionCache = tls.NewLRUClientSessionCache(maxConns)
	hc := &http.Client{Transport: newTransport(tlsConf, maxConns, opts.DialContext), Timeout: opts.Timeout}
	return &Client{base: base, user: opts.User, pass: opts.Passphrase, hc: hc}, nil
}

// WithCredentials returns a copy of c that authenticates as user and shares
// c's connections, so switching users costs no handshake.
func (c *Client) WithCredentials(user, passphrase string) *Client {
	cp := *c
	cp.user, cp.pass = user, passphrase
	return &cp
}

// URL returns the API base the client sends requests to.
func (c *Client) URL() string { return c.base }

// Close drops idle connections. The transport is shared with every copy made
// by WithCredentials; those copies stay usable and simply dial again.
// Close is idempotent and always returns nil.
func (c *Client) Close() error {
	c.hc.CloseIdleConnections()
	return nil
}

func parseBase(raw string) (string, error) {
	if raw == "" {
		raw = DefaultURL
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("parse api url: %w", err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", fmt.Errorf("parse api url %q: scheme must be https or http", raw)
	}
	if u.Host == "" {
		return "", fmt.Errorf("parse api url %q: no host", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("parse api url %q: query and fragment are not allowed", raw)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

func tlsConfig(opts Options) (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case opts.Insecure && len(opts.CACertPEM) > 0:
		return nil, errors.New("tls config: CACertPEM and Insecure are mutually exclusive")
	case opts.Insecure:
		// The operator asked for it explicitly (kwctl --insecure), typically
		// for a first contact with a self-signed appliance.
		conf.InsecureSkipVerify = true //nolint:gosec
	case len(opts.CACertPEM) > 0:
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(opts.CACertPEM) {
			return nil, errors.New("tls config: no certificate found in CACertPEM")
		}
		conf.RootCAs = pool
	}
	return conf, nil
}

func newTransport(tlsConf *tls.Config, maxConns int, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Transport {
	if dial == nil {
		dial = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	return &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         dial,
		TLSClientConfig:     tlsConf,
		TLSHandshakeTimeout: 10 * time.Second,
		// A custom TLSClientConfig disables HTTP/2 unless forced back on.
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          maxConns,
		MaxIdleConnsPerHost:   maxConns,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}
