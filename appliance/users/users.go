// Package users keeps the appliance's users and namespaces in the encrypted
// store and authenticates HTTP Basic credentials against them, with a cache of
// verified credentials so that Argon2id runs once per user and passphrase, not
// once per request.
package users

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/keywarden/keywarden/appliance/keyring"
)

// Role is a user's role, with the reference API's values.
type Role string

// The roles of the reference API.
const (
	Administrator Role = "Administrator"
	Operator      Role = "Operator"
	Metrics       Role = "Metrics"
	Backup        Role = "Backup"
)

// ParseRole validates a role name.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case Administrator, Operator, Metrics, Backup:
		return r, nil
	}
	return "", fmt.Errorf("%w: unknown role %q (want Administrator, Operator, Metrics or Backup)", ErrInvalid, s)
}

// User is one stored user. ID is "namespace~name" for namespaced users.
type User struct {
	ID       string                 `json:"-"`
	RealName string                 `json:"realName"`
	Role     Role                   `json:"role"`
	Tags     []string               `json:"tags,omitempty"`
	Hash     keyring.PassphraseHash `json:"hash"`
}

// Namespace returns the user's namespace, "" for root users.
func (u User) Namespace() string { ns, _ := SplitID(u.ID); return ns }

// HasTag reports whether the user carries tag.
func (u User) HasTag(tag string) bool { return slices.Contains(u.Tags, tag) }

var (
	// ErrNotFound means the user or namespace does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists means the user or namespace already exists.
	ErrExists = errors.New("already exists")
	// ErrInvalid means the request is malformed (bad ID, weak passphrase ...).
	ErrInvalid = errors.New("invalid")
	// ErrBadCredentials means authentication failed. It never says why.
	ErrBadCredentials = errors.New("authentication failed")
)

var idPattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// MinPassphrase is the reference API's minimum passphrase length.
const MinPassphrase = 10

// ValidateName checks an ID-shaped name (user name, namespace, tag, key ID).
func ValidateName(what, s string) error {
	if len(s) < 1 || len(s) > 128 || !idPattern.MatchString(s) {
		return fmt.Errorf("%w: %s %q must be 1 to 128 characters of a-z, A-Z, 0-9, '_', '.', '-' and start with a letter or digit", ErrInvalid, what, s)
	}
	return nil
}

// ValidateNamespace checks a namespace ID (the reference's ID pattern).
func ValidateNamespace(ns string) error { return ValidateName("namespace", ns) }

// ValidateUserID checks a full user ID, "name" or "namespace~name".
func ValidateUserID(id string) error {
	if len(id) > 128 {
		return fmt.Errorf("%w: user ID %q is longer than 128 characters", ErrInvalid, id)
	}
	ns, name := SplitID(id)
	if strings.Count(id, "~") > 1 {
		return fmt.Errorf("%w: user ID %q has more than one '~'", ErrInvalid, id)
	}
	if strings.Contains(id, "~") {
		if err := ValidateNamespace(ns); err != nil {
			return err
		}
	}
	return ValidateName("user ID", name)
}

// ValidatePassphrase enforces the minimum length.
func ValidatePassphrase(what, p string) error {
	if len(p) < MinPassphrase {
		return fmt.Errorf("%w: %s must be at least %d characters", ErrInvalid, what, MinPassphrase)
	}
	return nil
}

// SplitID splits "ns~name" into its parts; root users have ns "".
func SplitID(id string) (ns, name string) {
	if i := strings.IndexByte(id, '~'); i >= 0 {
		return id[:i], id[i+1:]
	}
	return "", id
}

// JoinID builds a user ID from a namespace and a name.
func JoinID(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "~" + name
}
