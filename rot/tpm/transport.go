package tpm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/google/go-tpm/tpm2/transport"

	"github.com/keywarden/keywarden/rot"
)

// DefaultDevice is the kernel's TPM resource manager, which lets several
// processes share the TPM and flushes a crashed process's objects.
const DefaultDevice = "/dev/tpmrm0"

const (
	// maxResponse bounds a response size read from the wire; real TPM
	// responses stay under 4 KiB, so a larger size means the stream is not a TPM.
	maxResponse = 64 << 10
	// deviceRead is the read buffer for a character device, which returns a
	// whole response per read; the kernel's own buffer is 4 KiB.
	deviceRead = 8 << 10
	// headerSize is the tag, size and response code that start every response.
	headerSize = 10
	// mssimSendCommand is the TPM simulator protocol's TPM_SEND_COMMAND.
	mssimSendCommand = 8
	dialTimeout      = 5 * time.Second
)

// framing is how commands and responses are delimited on a connection.
type framing int

const (
	// rawDevice: one write per command, one read per response (the kernel
	// character device returns a whole response per read).
	rawDevice framing = iota
	// rawStream: raw commands on a byte stream; the response length comes
	// from its header (swtpm's Unix socket accepts this).
	rawStream
	// mssim: the TPM simulator's TCP protocol (swtpm's and the reference
	// simulator's command port): each command is prefixed by TPM_SEND_COMMAND,
	// the locality and the length; each response by its length and followed
	// by a 4-byte acknowledgement.
	mssim
)

// conn is a connection to one TPM. It is not safe for concurrent use; TPM
// serializes access.
type conn struct {
	rwc     io.ReadWriteCloser
	framing framing
}

var _ transport.TPMCloser = (*conn)(nil)

// Dial opens the TPM named by device: a character device such as
// /dev/tpmrm0, "tcp:HOST:PORT" (the command port of a TPM simulator such as
// swtpm; the simulator's platform port is never used, so the TPM must already
// be powered on and started, e.g. swtpm --flags not-need-init,startup-clear),
// or "unix:PATH" (a simulator's Unix socket). The connection also has a
// SetDeadline(time.Time) error method that bounds its I/O. A missing or unreachable device
// gives an error wrapping rot.ErrUnavailable that names it. Simulators serve
// one connection at a time: a second connection waits until the first closes.
func Dial(ctx context.Context, device string) (transport.TPMCloser, error) {
	return dialConn(ctx, device)
}

// dialConn is Dial returning the concrete connection.
func dialConn(ctx context.Context, device string) (*conn, error) {
	c, err := dial(ctx, device)
	if err != nil {
		return nil, fmt.Errorf("tpm: open %s: %w: %w", device, rot.ErrUnavailable, err)
	}
	return c, nil
}

func dial(ctx context.Context, device string) (*conn, error) {
	d := net.Dialer{Timeout: dialTimeout}
	if addr, ok := strings.CutPrefix(device, "tcp:"); ok {
		nc, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return &conn{rwc: nc, framing: mssim}, nil
	}
	if path, ok := strings.CutPrefix(device, "unix:"); ok {
		nc, err := d.DialContext(ctx, "unix", path)
		if err != nil {
			return nil, err
		}
		return &conn{rwc: nc, framing: rawStream}, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(device, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	return &conn{rwc: f, framing: rawDevice}, nil
}

// Send sends one command and returns the response. Errors wrap
// rot.ErrUnavailable: after a failed exchange the stream's framing can no
// longer be trusted.
func (c *conn) Send(cmd []byte) ([]byte, error) {
	rsp, err := c.exchange(cmd)
	if err != nil {
		return nil, fmt.Errorf("tpm: connection lost: %w: %w", rot.ErrUnavailable, err)
	}
	return rsp, nil
}

func (c *conn) exchange(cmd []byte) ([]byte, error) {
	switch c.framing {
	case mssim:
		return c.exchangeMSSim(cmd)
	case rawStream:
		if _, err := c.rwc.Write(cmd); err != nil {
			return nil, err
		}
		return readResponse(c.rwc)
	default:
		return c.exchangeDevice(cmd)
	}
}

func (c *conn) exchangeMSSim(cmd []byte) ([]byte, error) {
	msg := make([]byte, 9, 9+len(cmd))
	binary.BigEndian.PutUint32(msg, mssimSendCommand)
	// msg[4] is the locality: 0.
	binary.BigEndian.PutUint32(msg[5:], uint32(len(cmd)))
	if _, err := c.rwc.Write(append(msg, cmd...)); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(c.rwc, size[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < headerSize || n > maxResponse {
		return nil, fmt.Errorf("simulator response of %d bytes", n)
	}
	rsp := make([]byte, n+4) // the response, then the acknowledgement
	if _, err := io.ReadFull(c.rwc, rsp); err != nil {
		return nil, err
	}
	if ack := binary.BigEndian.Uint32(rsp[n:]); ack != 0 {
		return nil, fmt.Errorf("simulator acknowledged with %d", ack)
	}
	return rsp[:n], checkSize(rsp[:n])
}

func (c *conn) exchangeDevice(cmd []byte) ([]byte, error) {
	if _, err := c.rwc.Write(cmd); err != nil {
		return nil, err
	}
	buf := make([]byte, deviceRead)
	n, err := c.rwc.Read(buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], checkSize(buf[:n])
}

// readResponse reads one response whose length is given by its header.
func readResponse(r io.Reader) ([]byte, error) {
	hdr := make([]byte, headerSize)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[2:6])
	if n < headerSize || n > maxResponse {
		return nil, fmt.Errorf("response header claims %d bytes", n)
	}
	rsp := make([]byte, n)
	copy(rsp, hdr)
	if _, err := io.ReadFull(r, rsp[headerSize:]); err != nil {
		return nil, err
	}
	return rsp, nil
}

// checkSize rejects a response whose header disagrees with its length.
func checkSize(rsp []byte) error {
	if len(rsp) < headerSize || binary.BigEndian.Uint32(rsp[2:6]) != uint32(len(rsp)) {
		return errors.New("truncated or oversized response")
	}
	return nil
}

// SetDeadline bounds the I/O of the commands that follow; the zero time
// removes the bound. Devices that cannot be polled return os.ErrNoDeadline
// and their calls stay unbounded.
func (c *conn) SetDeadline(t time.Time) error {
	if d, ok := c.rwc.(interface{ SetDeadline(time.Time) error }); ok {
		return d.SetDeadline(t)
	}
	return os.ErrNoDeadline
}

// Close closes the connection.
func (c *conn) Close() error {
	return c.rwc.Close()
}
