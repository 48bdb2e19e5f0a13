package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/keywarden/keywarden/appliance/keyring"
	"github.com/keywarden/keywarden/appliance/keys"
	"github.com/keywarden/keywarden/appliance/keystore"
	"github.com/keywarden/keywarden/appliance/users"
	"github.com/keywarden/keywarden/cluster"
)

// Sentinel errors a Backend wraps to choose the status code; the message of the
// wrapping error is what the client reads.
var (
	// ErrBadRequest means the request was malformed or a value was invalid (400).
	ErrBadRequest = errors.New("bad request")
	// ErrForbidden means the caller may not do this (403).
	ErrForbidden = errors.New("forbidden")
	// ErrPrecondition means the appliance is not in the state this needs (412).
	ErrPrecondition = errors.New("precondition failed")
	// ErrNotFound means the requested thing does not exist (404).
	ErrNotFound = errors.New("not found")
	// ErrConflict means the request conflicts with what exists (409).
	ErrConflict = errors.New("conflict")
	// ErrAccepted means the request took effect but finishes later (202,
	// with the message saying what is left).
	ErrAccepted = errors.New("accepted")
	// ErrUnavailable means the store cannot serve right now (503).
	ErrUnavailable = errors.New("service unavailable")
	// ErrTooLarge means an upload is larger than the appliance takes (413).
	ErrTooLarge = errors.New("request entity too large")
)

// statusError carries an explicit status from a handler.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

func fail(status int, msg string) error { return &statusError{status: status, msg: msg} }

// statusOf maps an error to its HTTP status. It is the only such mapping.
func statusOf(err error) int {
	var se *statusError
	switch {
	case errors.As(err, &se):
		return se.status
	case errors.Is(err, ErrAccepted):
		return http.StatusAccepted
	case errors.Is(err, ErrBadRequest), errors.Is(err, users.ErrInvalid),
		errors.Is(err, keys.ErrInvalid), errors.Is(err, keys.ErrUnsupported),
		errors.Is(err, keys.ErrNotPermitted):
		return http.StatusBadRequest
	case errors.Is(err, users.ErrBadCredentials):
		return http.StatusUnauthorized
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, users.ErrNotFound), errors.Is(err, keystore.ErrNotFound), errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, users.ErrExists), errors.Is(err, keystore.ErrExists):
		return http.StatusConflict
	case errors.Is(err, ErrPrecondition):
		return http.StatusPreconditionFailed
	case errors.Is(err, ErrConflict), errors.Is(err, cluster.ErrConflict), errors.Is(err, cluster.ErrLearnerPending),
		errors.Is(err, cluster.ErrPeerURLInUse):
		return http.StatusConflict
	case errors.Is(err, cluster.ErrMemberNotFound):
		return http.StatusNotFound
	case errors.Is(err, cluster.ErrInvalidPeerURL):
		return http.StatusBadRequest
	case errors.Is(err, cluster.ErrTooManyVoters), errors.Is(err, cluster.ErrNotLearner),
		errors.Is(err, cluster.ErrLearnerNotReady), errors.Is(err, cluster.ErrNoPeerListener),
		errors.Is(err, cluster.ErrPeerTLS):
		return http.StatusPreconditionFailed
	case errors.Is(err, ErrUnavailable), errors.Is(err, cluster.ErrUnavailable),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, keyring.ErrBusy):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// writeError answers with err's status and message. Internal errors are logged
// in full and answered with a generic message, so no internal detail (which
// could include paths or state) reaches the client.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	msg := err.Error()
	switch status {
	case http.StatusInternalServerError:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal error; the appliance log has the details"
	case http.StatusServiceUnavailable:
		s.log.Warn("request failed: store unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "the appliance is busy or its key store is unavailable; retry later"
	default:
		s.log.Debug("request refused", "method", r.Method, "path", r.URL.Path, "status", status, slog.String("reason", msg))
	}
	writeJSON(w, status, map[string]string{"message": msg})
}
