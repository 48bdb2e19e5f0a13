package appliance

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/keywarden/keywarden/appliance/api"
	"github.com/keywarden/keywarden/appliance/keyring"
	"github.com/keywarden/keywarden/cluster"
)

// A joiner kit is what POST /cluster/members hands the operator for the new
// node: which member it was registered as, the cluster's members and the
// cluster CA, sealed under a key derived from the cluster's backup key. Only
// someone who knows the backup passphrase can open it, so a kit that leaks
// in transit lets no one join; and the joiner proves its operator knows the
// cluster's passphrase before it gives up its own data. The wire form is
// base64 of kitEnvelope; the Argon2id salt and cost travel in the clear so
// the joiner can derive the backup key from the passphrase alone.

// kitSealPath is the associated data of the sealed contents.
const kitSealPath = "keywarden/joiner-kit/v1"

// kitMaxAge bounds how long a kit may be used: a registered learner that
// never joins blocks every other join, so a stale kit is a mistake.
const kitMaxAge = 24 * time.Hour

type kitEnvelope struct {
	V      int               `json:"v"`
	KDF    keyring.KDFParams `json:"kdf"`
	Salt   []byte            `json:"salt"`
	Sealed []byte            `json:"sealed"`
}

// kitContents is what the kit seals.
type kitContents struct {
	MemberID string               `json:"memberId"` // the learner the joiner starts as
	PeerURLs []string             `json:"peerUrls"` // where the cluster will look for it
	Members  []cluster.MemberInfo `json:"members"`  // every member, the learner included
	CA       []byte               `json:"ca"`       // the cluster CA (PEM)
	Issued   time.Time            `json:"issued"`
}

// sealKit seals c under the backup key (the Argon2id output stored as the
// backup passphrase's verifier).
func sealKit(backup keyring.PassphraseHash, c kitContents) (string, error) {
	s, err := kitSealer(backup.Hash)
	if err != nil {
		return "", err
	}
	plain, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	env, err := json.Marshal(kitEnvelope{V: 1, KDF: backup.KDF, Salt: backup.Salt, Sealed: s.Seal(kitSealPath, plain)})
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(env), nil
}

// openKit derives the backup key from passphrase and opens kit. A kit that is
// malformed, sealed under another passphrase, altered or expired wraps
// api.ErrBadRequest; keyring.ErrBusy passes through.
func openKit(kit, passphrase string, now time.Time) (kitContents, error) {
	var c kitContents
	raw, err := base64.StdEncoding.DecodeString(kit)
	if err != nil {
		return c, fmt.Errorf("%w: joinerKit is not base64: %v", api.ErrBadRequest, err)
	}
	var env kitEnvelope
	if err := json.Unmarshal(raw, &env); err != nil || env.V != 1 {
		return c, fmt.Errorf("%w: joinerKit is not a Keywarden joiner kit (version 1)", api.ErrBadRequest)
	}
	if err := env.KDF.Validate(); err != nil || len(env.Salt) < 16 {
		return c, fmt.Errorf("%w: joinerKit has unusable key-derivation parameters", api.ErrBadRequest)
	}
	key, err := keyring.Derive(passphrase, env.Salt, env.KDF)
	if err != nil {
		return c, err
	}
	defer clear(key)
	s, err := kitSealer(key)
	if err != nil {
		return c, err
	}
	plain, err := s.Open(kitSealPath, env.Sealed)
	if errors.Is(err, keyring.ErrOpen) {
		return c, fmt.Errorf("%w: the backup passphrase does not open the joiner kit (wrong passphrase, or the kit was altered)", api.ErrBadRequest)
	}
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(plain, &c); err != nil {
		return c, fmt.Errorf("%w: the joiner kit's contents are malformed", api.ErrBadRequest)
	}
	if age := now.Sub(c.Issued); age > kitMaxAge || age < -kitMaxAge {
		return c, fmt.Errorf("%w: the joiner kit was issued %v ago; kits are valid for %v: remove the learner and register this node again", api.ErrBadRequest, age.Round(time.Minute), kitMaxAge)
	}
	return c, nil
}

func kitSealer(backupKey []byte) (*keyring.Sealer, error) {
	return keyring.NewSubSealer(backupKey, keyring.PurposeJoinerKit)
}
