package api

import (
	"fmt"
	"net/http"

	"github.com/keywarden/keywarden/appliance/keys"
	"github.com/keywarden/keywarden/appliance/keystore"
	"github.com/keywarden/keywarden/appliance/users"
)

// signResponse is the hot path's answer: a struct (not a map) so encoding it
// needs no key sorting; []byte encodes as standard base64.
type signResponse struct {
	Signature []byte `json:"signature"`
}

// usableKey loads the key for a cryptographic operation and applies its
// restrictions to the calling Operator.
func usableKey(c *call) (*keystore.Record, error) {
	id, err := keyID(c)
	if err != nil {
		return nil, err
	}
	rec, err := c.sess.Keys.Get(c.ctx(), c.ns(), id)
	if err != nil {
		return nil, err
	}
	if !mayUse(c.user, rec) {
		return nil, fail(http.StatusForbidden, "key "+id+" is restricted to Operators with one of its tags")
	}
	return rec, nil
}

// b64Field decodes a required base64 request field.
func b64Field(name, v string, required bool) ([]byte, error) {
	if v == "" {
		if required {
			return nil, fmt.Errorf("%w: %s is required", ErrBadRequest, name)
		}
		return nil, nil
	}
	b, err := b64.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not valid base64", ErrBadRequest, name)
	}
	return b, nil
}

func handleSign(c *call) error {
	var req struct {
		Mode    string `json:"mode"`
		Message string `json:"message"`
	}
	if err := c.decode(&req); err != nil {
		return err
	}
	mode, err := keys.ParseSignMode(req.Mode)
	if err != nil {
		return err
	}
	msg, err := b64Field("message", req.Message, true)
	if err != nil {
		return err
	}
	rec, err := usableKey(c)
	if err != nil {
		return err
	}
	sig, err := rec.Key.Sign(mode, msg)
	if err != nil {
		return err
	}
	rec.CountOperation()
	return c.json(http.StatusOK, signResponse{Signature: sig})
}

func handleDecrypt(c *call) error {
	var req struct {
		Mode      string `json:"mode"`
		Encrypted string `json:"encrypted"`
		IV        string `json:"iv,omitempty"`
	}
	if err := c.decode(&req); err != nil {
		return err
	}
	mode, err := keys.ParseDecryptMode(req.Mode)
	if err != nil {
		return err
	}
	ct, err := b64Field("encrypted", req.Encrypted, true)
	if err != nil {
		return err
	}
	iv, err := b64Field("iv", req.IV, false)
	if err != nil {
		return err
	}
	rec, err := usableKey(c)
	if err != nil {
		return err
	}
	pt, err := rec.Key.Decrypt(mode, ct, iv)
	if err != nil {
		return err
	}
	rec.CountOperation()
	return c.json(http.StatusOK, map[string]string{"decrypted": b64.EncodeToString(pt)})
}

func handleEncrypt(c *call) error {
	var req struct {
		Mode    string `json:"mode"`
		Message string `json:"message"`
		IV      string `json:"iv,omitempty"`
	}
	if err := c.decode(&req); err != nil {
		return err
	}
	mode, err := keys.ParseEncryptMode(req.Mode)
	if err != nil {
		return err
	}
	msg, err := b64Field("message", req.Message, true)
	if err != nil {
		return err
	}
	iv, err := b64Field("iv", req.IV, false)
	if err != nil {
		return err
	}
	rec, err := usableKey(c)
	if err != nil {
		return err
	}
	ct, ivUsed, err := rec.Key.Encrypt(mode, msg, iv)
	if err != nil {
		return err
	}
	rec.CountOperation()
	return c.json(http.StatusOK, map[string]string{"encrypted": b64.EncodeToString(ct), "iv": b64.EncodeToString(ivUsed)})
}

func handlePublicPEM(c *call) error {
	rec, err := loadKey(c)
	if err != nil {
		return err
	}
	p, err := rec.Key.PublicPEM()
	if err != nil {
		return err
	}
	return c.pem(p)
}

func handleKeyCSR(c *call) error {
	var dn keys.DistinguishedName
	if err := c.decode(&dn); err != nil {
		return err
	}
	rec, err := loadKey(c)
	if err != nil {
		return err
	}
	csr, err := rec.Key.CSR(dn)
	if err != nil {
		return err
	}
	return c.pem(csr)
}

func loadKey(c *call) (*keystore.Record, error) {
	id, err := keyID(c)
	if err != nil {
		return nil, err
	}
	return c.sess.Keys.Get(c.ctx(), c.ns(), id)
}

func handleGetCert(c *call) error {
	id, err := keyID(c)
	if err != nil {
		return err
	}
	cert, err := c.sess.Keys.Cert(c.ctx(), c.ns(), id)
	if err != nil {
		return err
	}
	c.w.Header().Set("Content-Type", typeOcts)
	_, _ = c.w.Write(cert)
	return nil
}

func handlePutCert(c *call) error {
	id, err := keyID(c)
	if err != nil {
		return err
	}
	if err := requireType(c.r, typeOcts); err != nil {
		return err
	}
	cert, err := c.readBody(keystore.MaxCertSize)
	if err != nil {
		return err
	}
	if len(cert) == 0 {
		return fmt.Errorf("%w: the certificate is empty", ErrBadRequest)
	}
	if err := c.sess.Keys.PutCert(c.ctx(), c.ns(), id, cert); err != nil {
		return err
	}
	return c.created("/keys/"+id+"/cert", nil)
}

func handleDeleteCert(c *call) error {
	id, err := keyID(c)
	if err != nil {
		return err
	}
	if err := c.sess.Keys.DeleteCert(c.ctx(), c.ns(), id); err != nil {
		return err
	}
	return c.noContent()
}

func handleMoveKey(c *call) error {
	id, err := keyID(c)
	if err != nil {
		return err
	}
	var req struct {
		NewID string `json:"newId"`
	}
	if err := c.decode(&req); err != nil {
		return err
	}
	if err := users.ValidateName("newId", req.NewID); err != nil {
		return err
	}
	if err := c.sess.Keys.Move(c.ctx(), c.ns(), id, req.NewID); err != nil {
		return err
	}
	c.s.log.Info("key moved", "key", id, "to", req.NewID, "namespace", c.ns(), "by", c.user.ID)
	return c.json(http.StatusOK, map[string]string{"id": req.NewID})
}

func handleAddKeyTag(c *call) error {
	id, err := keyID(c)
	if err != nil {
		return err
	}
	tag := c.r.PathValue("Tag")
	if err := users.ValidateName("tag", tag); err != nil {
		return err
	}
	changed, err := c.sess.Keys.Update(c.ctx(), c.ns(), id, func(r *keystore.Record) (bool, error) {
		tags, _ := checkTags(&restrictions{Tags: append(r.Tags, tag)})
		changed := len(tags) != len(r.Tags)
		r.Tags = tags
		return changed, nil
	})
	return c.changed(changed, err)
}

func handleRemoveKeyTag(c *call) error {
	id, err := keyID(c)
	if err != nil {
		return err
	}
	tag := c.r.PathValue("Tag")
	_, err = c.sess.Keys.Update(c.ctx(), c.ns(), id, func(r *keystore.Record) (bool, error) {
		for i, t := range r.Tags {
			if t == tag {
				r.Tags = append(r.Tags[:i], r.Tags[i+1:]...)
				return true, nil
			}
		}
		return false, fmt.Errorf("tag %q of key %q: %w", tag, id, keystore.ErrNotFound)
	})
	if err != nil {
		return err
	}
	return c.noContent()
}

func handleDeleteNamespace(c *call) error {
	ns := c.r.PathValue("NamespaceID")
	if err := users.ValidateNamespace(ns); err != nil {
		return err
	}
	if err := c.sess.Users.DeleteNamespace(c.ctx(), ns, keystore.NamespaceOps(ns)...); err != nil {
		return err
	}
	c.sess.Keys.Forget(keystore.NamespaceDir(ns))
	c.s.log.Info("namespace deleted with its users and keys", "namespace", ns, "by", c.user.ID)
	return c.noContent()
}
