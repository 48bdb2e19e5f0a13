package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"

	"github.com/keywarden/keywarden/appliance/keys"
	"github.com/keywarden/keywarden/appliance/keystore"
)

type importRequest struct {
	Mechanisms   []string         `json:"mechanisms"`
	Type         string           `json:"type"`
	Private      keys.PrivateData `json:"private"`
	Restrictions *restrictions    `json:"restrictions,omitempty"`
	Label        *string          `json:"label,omitempty"`
}

type pemArguments struct {
	Mechanisms   []string      `json:"mechanisms"`
	Restrictions *restrictions `json:"restrictions,omitempty"`
	Label        *string       `json:"label,omitempty"`
}

// maxPEMKey bounds an uploaded PEM key (an RSA-8192 PKCS#8 PEM is ~6.5 KiB).
const maxPEMKey = 64 << 10

// decodeImport reads a key import body, as JSON or as a multipart PEM upload.
func decodeImport(c *call, id string) (*keystore.Record, error) {
	mt, params, _ := mime.ParseMediaType(c.r.Header.Get("Content-Type"))
	rec := &keystore.Record{Namespace: c.ns(), ID: id}
	if mt == "multipart/form-data" {
		return rec, decodePEMImport(c, rec, params["boundary"])
	}
	var req importRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	t, err := keys.ParseType(req.Type)
	if err != nil {
		return nil, err
	}
	mechs, err := mechanisms(req.Mechanisms)
	if err != nil {
		return nil, err
	}
	if err := fillRecord(rec, req.Restrictions, req.Label); err != nil {
		return nil, err
	}
	rec.Key, err = keys.FromJSON(keys.PrivateJSON{Type: t, Mechanisms: mechs, Private: req.Private})
	return rec, err
}

// decodePEMImport reads the reference's multipart form: an "arguments" part
// (JSON) and a "key_file" part (PEM).
func decodePEMImport(c *call, rec *keystore.Record, boundary string) error {
	mr, err := multipartReader(c, boundary, maxMultipart)
	if err != nil {
		return err
	}
	var args *pemArguments
	var pemBytes []byte
	err = eachPart(mr, func(part *multipart.Part) error {
		switch part.FormName() {
		case "arguments":
			args = new(pemArguments)
			dec := json.NewDecoder(io.LimitReader(part, maxJSONBody))
			dec.DisallowUnknownFields()
			if err := dec.Decode(args); err != nil {
				return fmt.Errorf("%w: malformed arguments part: %s", ErrBadRequest, jsonProblem(err))
			}
		case "key_file":
			var err error
			if pemBytes, err = io.ReadAll(io.LimitReader(part, maxPEMKey+1)); err != nil || len(pemBytes) > maxPEMKey {
				return fmt.Errorf("%w: key_file part unreadable or larger than %d bytes", ErrBadRequest, maxPEMKey)
			}
		default:
			return fmt.Errorf("%w: unexpected multipart part %q (want arguments and key_file)", ErrBadRequest, part.FormName())
		}
		return nil
	})
	if err != nil {
		return err
	}
	if args == nil || pemBytes == nil {
		return fmt.Errorf("%w: multipart body needs both an arguments part and a key_file part", ErrBadRequest)
	}
	mechs, err := mechanisms(args.Mechanisms)
	if err != nil {
		return err
	}
	if err := fillRecord(rec, args.Restrictions, args.Label); err != nil {
		return err
	}
	rec.Key, err = keys.FromPEM(pemBytes, mechs)
	return err
}

func handleSetLabel(c *call) error {
	id, err := keyID(c)
	if err != nil {
		return err
	}
	var req struct {
		Label *string `json:"label"`
	}
	if err := c.decode(&req); err != nil {
		return err
	}
	if req.Label == nil {
		return fmt.Errorf("%w: label is required", ErrBadRequest)
	}
	if err := checkLabel(*req.Label); err != nil {
		return err
	}
	changed, err := c.sess.Keys.Update(c.ctx(), c.ns(), id, func(r *keystore.Record) (bool, error) {
		changed := r.Label != *req.Label
		r.Label = *req.Label
		return changed, nil
	})
	return c.changed(changed, err)
}

func handleDeleteLabel(c *call) error {
	id, err := keyID(c)
	if err != nil {
		return err
	}
	_, err = c.sess.Keys.Update(c.ctx(), c.ns(), id, func(r *keystore.Record) (bool, error) {
		changed := r.Label != ""
		r.Label = ""
		return changed, nil
	})
	if err != nil {
		return err
	}
	return c.noContent()
}

// eachPart calls handle for every part of a multipart body; a body that is
// not well-formed is a bad request.
func eachPart(mr *multipart.Reader, handle func(*multipart.Part) error) error {
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: malformed multipart body: %v", ErrBadRequest, err)
		}
		if err := handle(part); err != nil {
			return err
		}
	}
}

// multipartReader reads the request's multipart body, of at most limit
// bytes, split at boundary.
func multipartReader(c *call, boundary string, limit int64) (*multipart.Reader, error) {
	if boundary == "" {
		return nil, fmt.Errorf("%w: multipart body without a boundary", ErrBadRequest)
	}
	return multipart.NewReader(http.MaxBytesReader(c.w, c.r.Body, limit), boundary), nil
}

// maxMultipart bounds a multipart upload as a whole.
const maxMultipart = 1 << 20
