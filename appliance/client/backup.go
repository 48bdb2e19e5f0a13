package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"time"
)

// Backups can be hundreds of megabytes, so both directions are streamed:
// neither method holds the file in memory. Options.Timeout bounds the whole
// transfer; a client for large backups is best built without it and bounded
// through ctx instead.

const (
	backupPath  = "/system/backup"
	restorePath = "/system/restore"
)

// RestoreArgs is the "arguments" part of a restore.
type RestoreArgs struct {
	// BackupPassphrase is the passphrase the backup was made under.
	BackupPassphrase string `json:"backupPassphrase"`
	// SystemTime sets the appliance clock; zero sends the current time.
	SystemTime time.Time `json:"systemTime"`
}

// Backup streams the backup into w and returns the number of bytes written.
// The appliance cuts the stream when it fails midway, so any error after
// the answer began means the bytes in w are not a usable backup (its format
// would detect the truncation too, but only when restored).
func (c *Client) Backup(ctx context.Context, w io.Writer) (int64, error) {
	resp, err := c.send(ctx, request{method: http.MethodPost, path: backupPath, accept: mimeOctet})
	if err != nil {
		return 0, err
	}
	defer closeBody(resp)
	// A 200 in another type (a proxy's page, say) must not land in a file
	// the operator believes to be a backup.
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != mimeOctet {
		return 0, fmt.Errorf("POST %s: answer is %q, not %s", backupPath, resp.Header.Get("Content-Type"), mimeOctet)
	}
	dst := &writeErrWriter{w: w}
	n, err := io.Copy(dst, resp.Body)
	if err == nil && ctx.Err() != nil {
		// A cancelled request can still see its answer end cleanly: the
		// server may finish it in the moment the connection closes. A
		// backup cut short by the caller is not complete.
		err = context.Cause(ctx)
	}
	switch {
	case dst.err != nil:
		return n, fmt.Errorf("write backup after %d bytes: %w", n, dst.err)
	case err != nil:
		return n, fmt.Errorf("POST %s: the backup stream broke off after %d bytes: %w", backupPath, n, err)
	}
	return n, nil
}

// Restore uploads the backup read from r. An Unprovisioned appliance takes
// it without credentials and restores everything (it ends Locked); an
// Operational one needs an Administrator and restores users, keys and
// namespaces. A wrong passphrase or a damaged file is an *APIError with
// status 400. Restore returns only once it has stopped reading r.
func (c *Client) Restore(ctx context.Context, args RestoreArgs, r io.Reader) error {
	if args.SystemTime.IsZero() {
		args.SystemTime = time.Now()
	}
	args.SystemTime = wireTime(args.SystemTime)
	argsJSON, err := encodeJSON(http.MethodPost, restorePath, args)
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	bodyErr := make(chan error, 1)
	go func() {
		err := writeRestoreBody(mw, argsJSON, r)
		pw.CloseWithError(err) // nil: a clean end of the body
		bodyErr <- err
	}()
	resp, err := c.send(ctx, request{method: http.MethodPost, path: restorePath,
		contentType: mw.FormDataContentType(), accept: mimeJSON, stream: pr})
	// Unblocks the writer if the request ended before the body did (an
	// early error answer, a broken connection).
	_ = pr.Close()
	werr := <-bodyErr
	if werr != nil && !errors.Is(werr, io.ErrClosedPipe) {
		// Reading r failed: that, not the aborted request, is the cause.
		return werr
	}
	if err != nil {
		return err
	}
	closeBody(resp)
	return nil
}

// writeRestoreBody writes the multipart body, the arguments first as the
// reference's clients do (the appliance takes either order: it keeps the
// file and checks all of it before it restores anything).
func writeRestoreBody(mw *multipart.Writer, argsJSON []byte, r io.Reader) error {
	part, err := mw.CreatePart(map[string][]string{
		"Content-Disposition": {`form-data; name="arguments"`},
		"Content-Type":        {mimeJSON},
	})
	if err != nil {
		return err
	}
	if _, err := part.Write(argsJSON); err != nil {
		return err
	}
	// A file name makes servers that parse forms treat the part as a file
	// (spooled to disk) rather than a value held in memory.
	part, err = mw.CreateFormFile("backup_file", "backup")
	if err != nil {
		return err
	}
	if _, err := io.Copy(part, readErrReader{r}); err != nil {
		return err
	}
	return mw.Close()
}

// readErrReader marks errors of the backup source so that they are told
// apart from the pipe closing under the writer.
type readErrReader struct{ r io.Reader }

func (s readErrReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("read backup: %w", err)
	}
	return n, err
}

// writeErrWriter remembers a failed write, so that Backup can tell a full
// disk from a broken stream: io.Copy returns either without saying which.
type writeErrWriter struct {
	w   io.Writer
	err error
}

func (d *writeErrWriter) Write(p []byte) (int, error) {
	n, err := d.w.Write(p)
	if err != nil {
		d.err = err
	}
	return n, err
}
