package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// maxErrorBody bounds how much of an error answer is read: the message is
// for humans, and a misbehaving server must not make the client buffer more.
const maxErrorBody = 64 << 10

// APIError is the error returned for every answer outside 2xx. Message is
// the "message" field of the JSON error body, or the body text when the
// server sent something else.
type APIError struct {
	Status  int
	Message string
}

// Error reports the status code, its text and the server's message.
func (e *APIError) Error() string {
	s := fmt.Sprintf("%d %s", e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// StatusCode returns the HTTP status of the *APIError in err's chain, or 0
// when err is nil or did not come from an answer of the server.
func StatusCode(err error) int {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.Status
	}
	return 0
}

// decodeAPIError turns a non-2xx response into *APIError. It never fails:
// an unreadable body only loses the message, not the status.
func decodeAPIError(resp *http.Response) *APIError {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &APIError{Status: resp.StatusCode}
	var msg struct {
		Message *string `json:"message"`
	}
	if json.Unmarshal(body, &msg) == nil && msg.Message != nil {
		e.Message = *msg.Message
		return e
	}
	e.Message = strings.TrimSpace(string(body))
	return e
}
