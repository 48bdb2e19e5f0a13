package api

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/keywarden/keywarden/appliance/keys"
	"github.com/keywarden/keywarden/appliance/keystore"
	"github.com/keywarden/keywarden/appliance/users"
)

type restrictions struct {
	Tags []string `json:"tags,omitempty"`
}

type generateRequest struct {
	Mechanisms   []string      `json:"mechanisms"`
	Type         string        `json:"type"`
	Length       int           `json:"length,omitempty"`
	ID           string        `json:"id,omitempty"`
	Restrictions *restrictions `json:"restrictions,omitempty"`
	Label        *string       `json:"label,omitempty"`
}

// keyID resolves the {KeyID} path value.
func keyID(c *call) (string, error) {
	id := c.r.PathValue("KeyID")
	return id, users.ValidateName("key ID", id)
}

func mechanisms(names []string) ([]keys.Mechanism, error) {
	out := make([]keys.Mechanism, 0, len(names))
	for _, n := range names {
		m, err := keys.ParseMechanism(n)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func checkLabel(label string) error {
	if len(label) > 32 || !utf8.ValidString(label) {
		return fmt.Errorf("%w: label must be valid UTF-8 of at most 32 bytes", ErrBadRequest)
	}
	return nil
}

func checkTags(r *restrictions) ([]string, error) {
	if r == nil {
		return nil, nil
	}
	for _, t := range r.Tags {
		if err := users.ValidateName("tag", t); err != nil {
			return nil, err
		}
	}
	tags := slices.Clone(r.Tags)
	slices.Sort(tags)
	return slices.Compact(tags), nil
}

func handleGenerateKey(c *call) error {
	var req generateRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	t, err := keys.ParseType(req.Type)
	if err != nil {
		return err
	}
	mechs, err := mechanisms(req.Mechanisms)
	if err != nil {
		return err
	}
	rec := &keystore.Record{Namespace: c.ns(), ID: req.ID}
	if err := fillRecord(rec, req.Restrictions, req.Label); err != nil {
		return err
	}
	select {
	case c.s.keygen <- struct{}{}:
	case <-c.ctx().Done():
		return fmt.Errorf("%w: gave up waiting for another key generation", ErrUnavailable)
	}
	c.s.backend.MixEntropy(c.ctx())
	rec.Key, err = keys.Generate(rand.Reader, t, req.Length, mechs)
	<-c.s.keygen
	if err != nil {
		return err
	}
	return storeNewKey(c, rec, true)
}

// fillRecord validates and sets the ID (a random one when empty), tags and label.
func fillRecord(rec *keystore.Record, r *restrictions, label *string) error {
	if rec.ID == "" {
		rec.ID = newID()
	} else if err := users.ValidateName("key ID", rec.ID); err != nil {
		return err
	}
	tags, err := checkTags(r)
	if err != nil {
		return err
	}
	rec.Tags = tags
	if label != nil {
		if err := checkLabel(*label); err != nil {
			return err
		}
		rec.Label = *label
	}
	return nil
}

// storeNewKey stores rec and answers 201 with the ID (or 204 for PUT).
func storeNewKey(c *call, rec *keystore.Record, withBody bool) error {
	if err := c.sess.Keys.Create(c.ctx(), rec); err != nil {
		return err
	}
	c.s.log.Info("key stored", "key", rec.ID, "namespace", rec.Namespace, "type", rec.Key.Type(), "by", c.user.ID)
	if !withBody {
		return c.noContent()
	}
	return c.created("/keys/"+rec.ID, map[string]string{"id": rec.ID})
}

func handleImportKeyGenerated(c *call) error {
	rec, err := decodeImport(c, "")
	if err != nil {
		return err
	}
	return storeNewKey(c, rec, true)
}

func handlePutKey(c *call) error {
	id, err := keyID(c)
	if err != nil {
		return err
	}
	rec, err := decodeImport(c, id)
	if err != nil {
		return err
	}
	return storeNewKey(c, rec, false)
}

func handleDeleteKey(c *call) error {
	id, err := keyID(c)
	if err != nil {
		return err
	}
	if err := c.sess.Keys.Delete(c.ctx(), c.ns(), id); err != nil {
		return err
	}
	c.s.log.Info("key deleted", "key", id, "namespace", c.ns(), "by", c.user.ID)
	return c.noContent()
}

// handleGetKeyOrPrefix serves GET /keys/{KeyID} and the reference's prefix
// listing GET /keys/{KeyPrefix}*, which share one path shape.
func handleGetKeyOrPrefix(c *call) error {
	raw := c.r.PathValue("KeyID")
	if prefix, ok := strings.CutSuffix(raw, "*"); ok {
		if prefix != "" {
			if err := users.ValidateName("key prefix", prefix); err != nil {
				return err
			}
		}
		return listKeys(c, prefix)
	}
	id, err := keyID(c)
	if err != nil {
		return err
	}
	rec, err := c.sess.Keys.Get(c.ctx(), c.ns(), id)
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, publicView(rec))
}

type publicKey struct {
	Mechanisms   []keys.Mechanism `json:"mechanisms"`
	Type         keys.Type        `json:"type"`
	Restrictions restrictions     `json:"restrictions"`
	Public       *keys.PublicData `json:"public,omitempty"`
	Operations   uint64           `json:"operations"`
	Label        string           `json:"label,omitempty"`
}

func publicView(rec *keystore.Record) publicKey {
	return publicKey{
		Mechanisms:   rec.Key.Mechanisms(),
		Type:         rec.Key.Type(),
		Restrictions: restrictions{Tags: rec.Tags},
		Public:       rec.Key.PublicData(),
		Operations:   rec.Operations(),
		Label:        rec.Label,
	}
}

func handleListKeys(c *call) error { return listKeys(c, "") }

func listKeys(c *call, prefix string) error {
	ids, err := c.sess.Keys.List(c.ctx(), c.ns(), prefix)
	if err != nil {
		return err
	}
	q := c.r.URL.Query()
	_, filter := q["filter"]
	label, byLabel := q["label"]
	out := make([]map[string]string, 0, len(ids))
	for _, id := range ids {
		if filter || byLabel {
			rec, err := c.sess.Keys.Get(c.ctx(), c.ns(), id)
			if errors.Is(err, keystore.ErrNotFound) {
				continue // deleted since the listing
			}
			if err != nil {
				return err
			}
			if (filter && !mayUse(c.user, rec)) || (byLabel && rec.Label != label[0]) {
				continue
			}
		}
		out = append(out, map[string]string{"id": id})
	}
	return c.json(http.StatusOK, out)
}

// mayUse applies key restrictions: a key with tags can be used only by an
// Operator carrying at least one of them.
func mayUse(u users.User, rec *keystore.Record) bool {
	if u.Role != users.Operator {
		return u.Role == users.Administrator
	}
	if len(rec.Tags) == 0 {
		return true
	}
	return slices.ContainsFunc(rec.Tags, u.HasTag)
}
