package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"time"
)

// RestoreArgs are the arguments of POST /system/restore.
type RestoreArgs struct {
	BackupPassphrase string
	SystemTime       time.Time // zero: leave the clock alone
	// Authenticated says the request was admitted as an Administrator (the
	// appliance was Operational), not anonymously (Unprovisioned); the
	// backend holds the state to it, since an upload takes a while.
	Authenticated bool
}

const (
	// maxRestoreBody bounds a restore upload: the largest backup the
	// appliance takes plus room for the arguments.
	maxRestoreBody = 2<<30 + 1<<20
	// transferTimeout replaces the server's read timeout for backup
	// uploads, which take long on slow links.
	transferTimeout = time.Hour
)

// handleBackup streams the backup. Its status is sent with the first bytes,
// so a refusal before them (no backup passphrase) is an ordinary error; a
// failure after them cuts the stream, and the truncated file is refused by
// every reader.
func handleBackup(c *call) error {
	w := &lazyOctets{w: c.w}
	err := c.s.backend.Backup(c.ctx(), w)
	switch {
	case err == nil && !w.started:
		w.start()
	case err != nil && w.started:
		c.s.log.Error("backup failed after it started; the stream is cut", "err", err)
		panic(http.ErrAbortHandler)
	case err != nil:
		return err
	}
	return nil
}

// lazyOctets answers 200 application/octet-stream on the first write.
type lazyOctets struct {
	w       http.ResponseWriter
	started bool
}

func (l *lazyOctets) start() {
	l.started = true
	l.w.Header().Set("Content-Type", typeOcts)
	l.w.WriteHeader(http.StatusOK)
}

func (l *lazyOctets) Write(p []byte) (int, error) {
	if !l.started {
		l.start()
	}
	return l.w.Write(p)
}

// handleRestore reads the reference's multipart form: an "arguments" part
// (JSON: backupPassphrase, systemTime) and a "backup_file" part, in either
// order. The file is spooled by the backend before anything is checked.
func handleRestore(c *call) error {
	if err := requireType(c.r, "multipart/form-data"); err != nil {
		return err
	}
	_, params, _ := mime.ParseMediaType(c.r.Header.Get("Content-Type"))
	mr, err := multipartReader(c, params["boundary"], maxRestoreBody)
	if err != nil {
		return err
	}
	_ = http.NewResponseController(c.w).SetReadDeadline(time.Now().Add(transferTimeout))
	var args *RestoreArgs
	var file io.ReadSeekCloser
	defer func() {
		if file != nil {
			file.Close()
		}
	}()
	err = eachPart(mr, func(part *multipart.Part) error {
		var err error
		switch part.FormName() {
		case "arguments":
			if args != nil {
				return fmt.Errorf("%w: more than one arguments part", ErrBadRequest)
			}
			args, err = decodeRestoreArgs(part)
		case "backup_file":
			if file != nil {
				return fmt.Errorf("%w: more than one backup_file part", ErrBadRequest)
			}
			file, err = c.s.backend.SpoolBackup(c.ctx(), clientReader{part})
		default:
			err = fmt.Errorf("%w: unexpected multipart part %q (want arguments and backup_file)", ErrBadRequest, part.FormName())
		}
		return err
	})
	if err != nil {
		return err
	}
	if args == nil || file == nil {
		return fmt.Errorf("%w: a restore needs both an arguments part and a backup_file part", ErrBadRequest)
	}
	args.Authenticated = c.user.ID != ""
	if err := c.s.backend.Restore(c.ctx(), *args, file); err != nil {
		return err
	}
	return c.noContent()
}

func decodeRestoreArgs(r io.Reader) (*RestoreArgs, error) {
	var req struct {
		BackupPassphrase string `json:"backupPassphrase"`
		SystemTime       string `json:"systemTime"`
	}
	dec := json.NewDecoder(io.LimitReader(r, maxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, fmt.Errorf("%w: malformed arguments part: %s", ErrBadRequest, jsonProblem(err))
	}
	if req.BackupPassphrase == "" {
		return nil, fmt.Errorf("%w: backupPassphrase must not be empty", ErrBadRequest)
	}
	args := &RestoreArgs{BackupPassphrase: req.BackupPassphrase}
	if req.SystemTime != "" {
		t, err := parseTime("systemTime", req.SystemTime)
		if err != nil {
			return nil, err
		}
		args.SystemTime = t
	}
	return args, nil
}

// clientReader marks read errors of an upload as the client's: a body cut
// short or over its limit is a bad request, not a server failure.
type clientReader struct{ r io.Reader }

func (c clientReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil, errors.Is(err, io.EOF):
	case errors.As(err, &tooLarge):
		err = fmt.Errorf("%w: the upload is larger than %d bytes", ErrTooLarge, tooLarge.Limit)
	default:
		err = fmt.Errorf("%w: the upload ended early: %v", ErrBadRequest, err)
	}
	return n, err
}
