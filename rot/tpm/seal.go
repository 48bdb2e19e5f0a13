package tpm

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/keywarden/keywarden/rot"
)

// nonceSize is the caller nonce of every session: the size of the session's
// hash, as the TPM specification recommends.
const nonceSize = 32

// Seal seals secret (at most rot.MaxSecretSize bytes) in a sealed data
// object under the storage key, bound to the current values of the
// configured PCRs, and returns the blob to store. The secret travels to the
// TPM encrypted by a session salted with the storage key.
func (t *TPM) Seal(ctx context.Context, secret []byte) ([]byte, error) {
	var blob []byte
	err := t.do(ctx, func(tr transport.TPM) (err error) {
		if len(secret) > rot.MaxSecretSize {
			return fmt.Errorf("secret is %d bytes, want at most %d", len(secret), rot.MaxSecretSize)
		}
		blob, err = t.seal(tr, secret)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("tpm seal: %w", err)
	}
	return blob, nil
}

func (t *TPM) seal(tr transport.TPM, secret []byte) (blob []byte, err error) {
	values, err := readPCRs(tr, t.pcrs)
	if err != nil {
		return nil, err
	}
	empty := len(secret) == 0
	if empty {
		secret = []byte{0}
	}
	policy, err := policyDigest(t.pcrs, values, empty)
	if err != nil {
		return nil, err
	}
	sess, closeSess, err := tpm2.HMACSession(tr, tpm2.TPMAlgSHA256, nonceSize, t.storage.sealSession()...)
	if err != nil {
		return nil, fmt.Errorf("start salted session: %w", err)
	}
	defer func() { err = errors.Join(err, closeSess()) }()
	rsp, err := tpm2.Create{
		ParentHandle: t.storage.auth(sess),
		InSensitive: tpm2.TPM2BSensitiveCreate{Sensitive: &tpm2.TPMSSensitiveCreate{
			Data: tpm2.NewTPMUSensitiveCreate(&tpm2.TPM2BSensitiveData{Buffer: secret}),
		}},
		InPublic: tpm2.New2B(sealTemplate(policy)),
	}.Execute(tr)
	if err != nil {
		return nil, fmt.Errorf("create sealed object: %w", err)
	}
	b := sealedBlob{
		flags:  emptyFlag(empty),
		device: t.deviceID, storage: t.storage.id(), pcrs: t.pcrs, values: values,
		public: rsp.OutPublic, private: rsp.OutPrivate,
	}
	return b.encode(), nil
}

// Unseal recovers a secret sealed by Seal on this TPM. It returns an error
// wrapping rot.ErrMalformed if blob is not a whole, consistent blob or the
// TPM finds it damaged, rot.ErrWrongDevice if it was sealed by another TPM
// or under a storage key this TPM no longer has (Destroy, cleared owner
// hierarchy), and rot.ErrPolicy, naming the PCRs that changed, if the
// platform state no longer matches. The secret travels back encrypted by a
// session salted with the storage key.
func (t *TPM) Unseal(ctx context.Context, blob []byte) ([]byte, error) {
	var secret []byte
	err := t.do(ctx, func(tr transport.TPM) error {
		b, err := parseBlob(blob)
		if err != nil {
			return fmt.Errorf("%v: %w", err, rot.ErrMalformed)
		}
		if err := t.checkOwner(b); err != nil {
			return err
		}
		secret, err = t.unseal(tr, b)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("tpm unseal: %w", err)
	}
	return secret, nil
}

// checkOwner requires the blob to come from this TPM and storage key.
func (t *TPM) checkOwner(b *sealedBlob) error {
	if b.device != t.deviceID {
		return fmt.Errorf("sealed by device %x, this is %x: %w", b.device, t.deviceID, rot.ErrWrongDevice)
	}
	if b.storage != t.storage.id() {
		return fmt.Errorf("sealed under storage key %x, this TPM now has %x (factory reset or cleared TPM): %w",
			b.storage, t.storage.id(), rot.ErrWrongDevice)
	}
	return nil
}

func (t *TPM) unseal(tr transport.TPM, b *sealedBlob) (secret []byte, err error) {
	loaded, err := tpm2.Load{
		ParentHandle: t.storage.auth(tpm2.PasswordAuth(nil)),
		InPrivate:    b.private,
		InPublic:     b.public,
	}.Execute(tr)
	if err != nil {
		return nil, loadError(err)
	}
	defer func() { err = errors.Join(err, flush(tr, loaded.ObjectHandle)) }()
	sess, closeSess, err := tpm2.PolicySession(tr, tpm2.TPMAlgSHA256, nonceSize, t.storage.unsealSession()...)
	if err != nil {
		return nil, fmt.Errorf("start salted policy session: %w", err)
	}
	defer func() { err = errors.Join(err, closeSess()) }()
	_, err = tpm2.PolicyPCR{
		PolicySession: sess.Handle(),
		PcrDigest:     tpm2.TPM2BDigest{Buffer: pcrDigest(b.values)},
		Pcrs:          selection(b.pcrs),
	}.Execute(tr)
	if err == nil && b.empty() {
		_, err = tpm2.PolicyCommandCode{PolicySession: sess.Handle(), Code: tpm2.TPMCCUnseal}.Execute(tr)
	}
	if err != nil {
		return nil, policyError(tr, b, err)
	}
	rsp, err := tpm2.Unseal{ItemHandle: tpm2.AuthHandle{Handle: loaded.ObjectHandle, Name: loaded.Name, Auth: sess}}.Execute(tr)
	if err != nil {
		return nil, policyError(tr, b, err)
	}
	if b.empty() {
		clear(rsp.OutData.Buffer)
		return []byte{}, nil
	}
	return rsp.OutData.Buffer, nil
}

func emptyFlag(empty bool) uint8 {
	if empty {
		return flagEmpty
	}
	return 0
}

// loadError classifies a failed Load. The header named this TPM and storage
// key, so a parameter the TPM rejects (failed integrity check, bad size or
// attributes) means the blob was damaged or tampered with.
func loadError(err error) error {
	var fmt1 tpm2.TPMFmt1Error
	if errors.As(err, &fmt1) {
		if isParam, _ := fmt1.Parameter(); isParam {
			return fmt.Errorf("the TPM refused the sealed object (damaged blob?): %v: %w", err, rot.ErrMalformed)
		}
	}
	return fmt.Errorf("load sealed object: %w", err)
}

// policyError turns a refused PolicyPCR or Unseal into rot.ErrPolicy naming
// the PCRs whose values differ from those at sealing time.
func policyError(tr transport.TPM, b *sealedBlob, err error) error {
	if !errors.Is(err, tpm2.TPMRCValue) && !errors.Is(err, tpm2.TPMRCPolicyFail) {
		return fmt.Errorf("unseal: %w", err)
	}
	current, rerr := readPCRs(tr, b.pcrs)
	if rerr != nil {
		return fmt.Errorf("PCR policy not satisfied (sealed to SHA-256 PCRs %v; %v): %w", b.pcrs, rerr, rot.ErrPolicy)
	}
	changed := changedPCRs(b.pcrs, b.values, current)
	if len(changed) == 0 { // the PCRs changed and changed back between the calls
		return fmt.Errorf("PCR policy not satisfied (sealed to SHA-256 PCRs %v): %w", b.pcrs, rot.ErrPolicy)
	}
	return fmt.Errorf("PCR policy not satisfied: %s changed since sealing (sealed to SHA-256 PCRs %v): %w",
		pcrList(changed), b.pcrs, rot.ErrPolicy)
}

// pcrList names PCRs for people: "PCR 7", "PCRs 7, 16".
func pcrList(pcrs []int) string {
	var s bytes.Buffer
	for i, p := range pcrs {
		if i > 0 {
			s.WriteString(", ")
		}
		fmt.Fprint(&s, p)
	}
	if len(pcrs) == 1 {
		return "PCR " + s.String()
	}
	return "PCRs " + s.String()
}
