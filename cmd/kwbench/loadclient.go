package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/keywarden/keywarden/appliance/client"
)

// maxAnswer bounds what kwbench reads of one sign answer; a signature is at
// most a few hundred bytes, an error message a few KiB.
const maxAnswer = 64 << 10

// loadClient sends sign requests as cheaply as it can, because it shares
// the machine with the appliance and every microsecond it spends is one the
// appliance does not get. Each worker owns one keep-alive HTTP/1.1
// connection and writes a prebuilt request (headers and body) with a single
// TLS record, then reads the answer in the same goroutine.
//
// net/http's Transport cost about twice as much client CPU per request here
// (58 instead of 30 µs on the reference machine: a read and a write goroutine
// per connection and the hand-offs between them); answers are still parsed
// by net/http. HTTP/2 is not offered: each worker has exactly one request in
// flight, which is what C concurrent clients means.
type loadClient struct {
	dialer *tls.Dialer
	addr   string // host:port to dial
	host   string // Host header
	base   string // API base path, e.g. /api/v1
	auth   string // Authorization header value
}

func newLoadClient(opts client.Options, user, pass string, conns int) (*loadClient, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("load client: API URL %q: want https://HOST[:PORT]/PATH", opts.URL)
	}
	conf := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		NextProtos:         []string{"http/1.1"},
		ClientSessionCache: tls.NewLRUClientSessionCache(conns),
		InsecureSkipVerify: opts.Insecure, //nolint:gosec // the operator asked for -insecure
	}
	if len(opts.CACertPEM) > 0 {
		conf.RootCAs = x509.NewCertPool()
		if !conf.RootCAs.AppendCertsFromPEM(opts.CACertPEM) {
			return nil, errors.New("load client: no certificate in the CA PEM")
		}
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "443")
	}
	return &loadClient{
		dialer: &tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: conf},
		addr:   addr,
		host:   u.Host,
		base:   u.EscapedPath(),
		auth:   "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass)),
	}, nil
}

// wireRequest returns the complete HTTP/1.1 request that signs body with
// key id.
func (lc *loadClient) wireRequest(id string, body []byte) []byte {
	var b bytes.Buffer
	b.WriteString("POST " + lc.base + "/keys/" + url.PathEscape(id) + "/sign HTTP/1.1\r\n")
	b.WriteString("Host: " + lc.host + "\r\n")
	b.WriteString("Authorization: " + lc.auth + "\r\n")
	b.WriteString("Content-Type: application/json\r\n")
	b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
	b.Write(body)
	return b.Bytes()
}

// signConn is one worker's connection.
type signConn struct {
	lc   *loadClient
	conn *tls.Conn
	br   *bufio.Reader
	stop func() bool // unregisters the cancellation hook
	buf  []byte      // answer body, reused
}

func (lc *loadClient) newConn() *signConn {
	return &signConn{lc: lc, buf: make([]byte, 0, 512)}
}

// dial connects and arranges for ctx's cancellation to unblock the
// connection's reads and writes.
func (sc *signConn) dial(ctx context.Context) error {
	c, err := sc.lc.dialer.DialContext(ctx, "tcp", sc.lc.addr)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", sc.lc.addr, err)
	}
	conn := c.(*tls.Conn)
	sc.conn, sc.br = conn, bufio.NewReaderSize(conn, 4096)
	// The hook runs in its own goroutine and may race with close, so it
	// holds this connection rather than reading sc.conn.
	sc.stop = context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	return nil
}

// do sends a wire request and returns the answer body, valid until the next
// call. A non-200 answer is an error that quotes the appliance's message.
func (sc *signConn) do(ctx context.Context, wire []byte) ([]byte, error) {
	if sc.conn == nil {
		if err := sc.dial(ctx); err != nil {
			return nil, err
		}
	}
	if _, err := sc.conn.Write(wire); err != nil {
		return nil, sc.fail(ctx, "send sign request", err)
	}
	resp, err := http.ReadResponse(sc.br, nil)
	if err != nil {
		return nil, sc.fail(ctx, "read sign answer", err)
	}
	sc.buf, err = readAnswer(resp.Body, sc.buf[:0])
	_ = resp.Body.Close()
	if err != nil {
		return nil, sc.fail(ctx, "read sign answer", err)
	}
	if resp.Close {
		sc.close() // the appliance ends the connection; redial next time
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("sign answered %s: %s", resp.Status, bytes.TrimSpace(sc.buf))
	}
	return sc.buf, nil
}

// fail closes the broken connection and explains err, reporting a
// cancellation as such rather than as the I/O error it caused.
func (sc *signConn) fail(ctx context.Context, what string, err error) error {
	sc.close()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("%s: %w", what, err)
}

// close closes the connection. It is idempotent.
func (sc *signConn) close() {
	if sc.conn == nil {
		return
	}
	sc.stop()
	_ = sc.conn.Close()
	sc.conn, sc.br = nil, nil
}

// readAnswer appends r to buf up to maxAnswer bytes.
func readAnswer(r io.Reader, buf []byte) ([]byte, error) {
	for len(buf) < maxAnswer {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, fmt.Errorf("answer longer than %d bytes", maxAnswer)
}
