package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
)

// maxJSONBody bounds JSON request bodies; the largest legitimate one is an
// RSA-8192 key import (a few KiB).
const maxJSONBody = 256 << 10

// decode reads exactly one JSON object into v, refusing unknown fields, trailing
// data and other content types, as the reference API does.
func (c *call) decode(v any) error {
	if err := requireType(c.r, "application/json"); err != nil {
		return err
	}
	dec := json.NewDecoder(http.MaxBytesReader(c.w, c.r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: malformed JSON body: %s", ErrBadRequest, jsonProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: malformed JSON body: data after the JSON object", ErrBadRequest)
	}
	return nil
}

func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &te):
		return fmt.Sprintf("field %q must be %s, not %s", te.Field, te.Type, te.Value)
	case errors.As(err, &mbe):
		return fmt.Sprintf("body larger than %d bytes", mbe.Limit)
	case errors.Is(err, io.EOF):
		return "empty body"
	}
	return err.Error()
}

// requireType checks the request's Content-Type (415 otherwise).
func requireType(r *http.Request, want string) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != want {
		return fail(http.StatusUnsupportedMediaType, "Content-Type must be "+want)
	}
	return nil
}

// readBody reads a raw body of at most limit bytes.
func (c *call) readBody(limit int64) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, limit))
	if err != nil {
		return nil, fmt.Errorf("%w: body: %s", ErrBadRequest, jsonProblem(err))
	}
	return b, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"message":"internal error: response encoding"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (c *call) json(status int, v any) error {
	writeJSON(c.w, status, v)
	return nil
}

func (c *call) noContent() error {
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// changed answers an idempotent update: 204 when it changed something, 304
// when everything was already so.
func (c *call) changed(changed bool, err error) error {
	if err != nil {
		return err
	}
	if !changed {
		c.w.WriteHeader(http.StatusNotModified)
		return nil
	}
	return c.noContent()
}

func (c *call) pem(b []byte) error {
	c.w.Header().Set("Content-Type", "application/x-pem-file")
	c.w.WriteHeader(http.StatusOK)
	_, _ = c.w.Write(b)
	return nil
}

func (c *call) created(location string, v any) error {
	c.w.Header().Set("Location", Prefix+location)
	if v == nil {
		c.w.WriteHeader(http.StatusCreated)
		return nil
	}
	return c.json(http.StatusCreated, v)
}
