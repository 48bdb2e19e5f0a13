//go:build cgo

package hsm

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/miekg/pkcs11"
)

// Wrap protects secret (at most MaxWrapSize bytes) with the AES key labelled
// keyLabel and binds the result to aad, which Unwrap must be given again. The
// first byte of the result names the mechanism used (see WrapMechanism).
func (m *Module) Wrap(ctx context.Context, keyLabel string, secret, aad []byte) ([]byte, error) {
	if len(secret) > MaxWrapSize {
		return nil, fmt.Errorf("hsm wrap: secret is %d bytes, want at most %d", len(secret), MaxWrapSize)
	}
	var out []byte
	err := m.do(ctx, func(s pkcs11.SessionHandle) error {
		key, err := m.handle(s, pkcs11.CKO_SECRET_KEY, keyLabel)
		if err != nil {
			return err
		}
		if m.mech == AESGCM {
			out, err = m.wrapGCM(s, key, secret, aad)
		} else {
			out, err = m.wrapKWP(s, key, secret, aad)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("hsm wrap with %q: %w", keyLabel, err)
	}
	return out, nil
}

// Unwrap recovers a secret wrapped by Wrap with the key labelled keyLabel and
// the same aad. It returns an error wrapping ErrIntegrity if wrapped is
// malformed, damaged, bound to other associated data or wrapped by another
// key, and ErrNotFound if the key is missing.
func (m *Module) Unwrap(ctx context.Context, keyLabel string, wrapped, aad []byte) ([]byte, error) {
	if err := CheckWrapped(wrapped); err != nil {
		return nil, fmt.Errorf("hsm unwrap: %w", err)
	}
	var secret []byte
	err := m.do(ctx, func(s pkcs11.SessionHandle) error {
		key, err := m.handle(s, pkcs11.CKO_SECRET_KEY, keyLabel)
		if err != nil {
			return err
		}
		if WrapMechanism(wrapped[0]) == AESGCM {
			secret, err = m.unwrapGCM(s, key, wrapped, aad)
		} else {
			secret, err = m.unwrapKWP(s, key, wrapped, aad)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("hsm unwrap with %q: %w", keyLabel, err)
	}
	return secret, nil
}

// payloadTemplate describes the short-lived session object that carries a
// key-wrap payload in and out of the token: C_WrapKey wraps objects, not
// bytes. It exists only inside one operation and is destroyed right after.
func payloadTemplate() []*pkcs11.Attribute {
	return []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_GENERIC_SECRET),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, false),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
	}
}

// ckrAEADDecryptFailed is PKCS#11 3.0's CKR_AEAD_DECRYPT_FAILED, which
// miekg/pkcs11 v1.1.2 does not define.
const ckrAEADDecryptFailed = 0x35

var kwpMech = []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_WRAP_PAD, nil)}

func (m *Module) wrapKWP(s pkcs11.SessionHandle, key pkcs11.ObjectHandle, secret, aad []byte) (_ []byte, err error) {
	payload, err := kwpPayload(secret, aad)
	if err != nil {
		return nil, err
	}
	defer clear(payload)
	obj, err := m.lib.ctx.CreateObject(s, append(payloadTemplate(), pkcs11.NewAttribute(pkcs11.CKA_VALUE, payload)))
	if err != nil {
		return nil, err
	}
	defer m.destroyTemporary(s, obj, &err)
	w, err := m.lib.ctx.WrapKey(s, kwpMech, key, obj)
	if err != nil {
		return nil, err
	}
	return append([]byte{byte(AESKeyWrapPad)}, w...), nil
}

// destroyTemporary destroys a session object holding secret material. If
// that fails, *err reports it (replacing any other error) so that do closes
// the session, which destroys the object with it.
func (m *Module) destroyTemporary(s pkcs11.SessionHandle, obj pkcs11.ObjectHandle, err *error) {
	if derr := m.lib.ctx.DestroyObject(s, obj); derr != nil {
		*err = fmt.Errorf("destroy temporary object: %w", derr)
	}
}

func (m *Module) unwrapKWP(s pkcs11.SessionHandle, key pkcs11.ObjectHandle, wrapped, aad []byte) (_ []byte, err error) {
	obj, err := m.lib.ctx.UnwrapKey(s, kwpMech, key, wrapped[1:], payloadTemplate())
	if err != nil {
		return nil, integrity(err)
	}
	defer m.destroyTemporary(s, obj, &err)
	attrs, err := m.lib.ctx.GetAttributeValue(s, obj, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)})
	if err != nil {
		return nil, err
	}
	defer clear(attrs[0].Value)
	return openKWPPayload(attrs[0].Value, aad)
}

func (m *Module) wrapGCM(s pkcs11.SessionHandle, key pkcs11.ObjectHandle, secret, aad []byte) ([]byte, error) {
	iv := make([]byte, gcmIVSize)
	if _, err := rand.Read(iv); err != nil {
		return nil, err
	}
	params := pkcs11.NewGCMParams(iv, boundAD(AESGCM, aad), gcmTagSize*8)
	defer params.Free()
	if err := m.lib.ctx.EncryptInit(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_GCM, params)}, key); err != nil {
		return nil, err
	}
	ct, err := m.lib.ctx.Encrypt(s, secret)
	if err != nil {
		return nil, err
	}
	// Some tokens ignore the caller's IV and choose their own; store theirs.
	if used := params.IV(); len(used) == gcmIVSize {
		iv = used
	}
	out := append([]byte{byte(AESGCM)}, iv...)
	return append(out, ct...), nil
}

func (m *Module) unwrapGCM(s pkcs11.SessionHandle, key pkcs11.ObjectHandle, wrapped, aad []byte) ([]byte, error) {
	iv, ct := wrapped[1:1+gcmIVSize], wrapped[1+gcmIVSize:]
	params := pkcs11.NewGCMParams(iv, boundAD(AESGCM, aad), gcmTagSize*8)
	defer params.Free()
	if err := m.lib.ctx.DecryptInit(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_GCM, params)}, key); err != nil {
		return nil, integrity(err) // e.g. a key-wrap key and a blob claiming AES-GCM
	}
	secret, err := m.lib.ctx.Decrypt(s, ct)
	if err != nil {
		return nil, integrity(err)
	}
	if secret == nil {
		secret = []byte{}
	}
	return secret, nil
}

// integrity classifies an unwrap or decrypt failure. Tokens report a failed
// integrity check in different ways; SoftHSM2 reports CKR_GENERAL_ERROR, so
// that code counts too (the token's code stays in the message). A blob that
// claims a mechanism the key may not do is malformed for this key. Errors
// that mean the session, token or handle is gone are left alone so that do
// retries.
func integrity(err error) error {
	if hasCode(err, pkcs11.CKR_WRAPPED_KEY_INVALID, pkcs11.CKR_WRAPPED_KEY_LEN_RANGE,
		pkcs11.CKR_ENCRYPTED_DATA_INVALID, pkcs11.CKR_ENCRYPTED_DATA_LEN_RANGE,
		pkcs11.CKR_DATA_INVALID, pkcs11.CKR_DATA_LEN_RANGE, pkcs11.CKR_GENERAL_ERROR,
		pkcs11.CKR_FUNCTION_FAILED, ckrAEADDecryptFailed, pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED,
		pkcs11.CKR_KEY_TYPE_INCONSISTENT, pkcs11.CKR_MECHANISM_INVALID) {
		return fmt.Errorf("%w (token says %w)", ErrIntegrity, err)
	}
	return err
}
