package client

import "time"

// The JSON names below are the wire names of API v1 and must not change.
// Optional request fields carry omitempty so that an unset field is absent,
// not sent as a zero value the server would validate.

// Info is the answer of /info.
type Info struct {
	Vendor  string `json:"vendor"`
	Product string `json:"product"`
}

// ProvisionRequest is the body of /provision.
type ProvisionRequest struct {
	UnlockPassphrase string    `json:"unlockPassphrase"`
	AdminPassphrase  string    `json:"adminPassphrase"`
	SystemTime       time.Time `json:"systemTime"`
}

// KeyRestrictions limits who may use a key: only users carrying one of Tags.
type KeyRestrictions struct {
	Tags []string `json:"tags,omitempty"`
}

// KeyPrivateData is private key material for a JSON import: PrimeP, PrimeQ
// and PublicExponent for RSA, Data for EC, Curve25519 and Generic keys.
type KeyPrivateData struct {
	PrimeP         []byte `json:"primeP,omitempty"`
	PrimeQ         []byte `json:"primeQ,omitempty"`
	PublicExponent []byte `json:"publicExponent,omitempty"`
	Data           []byte `json:"data,omitempty"`
}

// PrivateKey is the body of a JSON key import.
type PrivateKey struct {
	Mechanisms   []KeyMechanism   `json:"mechanisms"`
	Type         KeyType          `json:"type"`
	Private      KeyPrivateData   `json:"private"`
	Restrictions *KeyRestrictions `json:"restrictions,omitempty"`
	Label        string           `json:"label,omitempty"`
}

// KeyImportArguments is the "arguments" part of a PEM key import.
type KeyImportArguments struct {
	Mechanisms   []KeyMechanism   `json:"mechanisms"`
	Restrictions *KeyRestrictions `json:"restrictions,omitempty"`
}

// KeyGenerateRequest is the body of /keys/generate. An empty ID lets the
// appliance choose one.
type KeyGenerateRequest struct {
	Mechanisms   []KeyMechanism   `json:"mechanisms"`
	Type         KeyType          `json:"type"`
	Length       int              `json:"length,omitempty"`
	ID           string           `json:"id,omitempty"`
	Restrictions *KeyRestrictions `json:"restrictions,omitempty"`
	Label        string           `json:"label,omitempty"`
}

// KeyPublicData is public key material: Modulus and PublicExponent for RSA,
// Data for EC and Curve25519 keys.
type KeyPublicData struct {
	Modulus        []byte `json:"modulus,omitempty"`
	PublicExponent []byte `json:"publicExponent,omitempty"`
	Data           []byte `json:"data,omitempty"`
}

// PublicKey is the answer of GET /keys/{KeyID}. Public is nil for Generic
// (symmetric) keys.
type PublicKey struct {
	Mechanisms   []KeyMechanism  `json:"mechanisms"`
	Type         KeyType         `json:"type"`
	Restrictions KeyRestrictions `json:"restrictions"`
	Public       *KeyPublicData  `json:"public,omitempty"`
	Operations   int64           `json:"operations"`
	Label        string          `json:"label,omitempty"`
}

// DistinguishedName is the subject of a certificate signing request.
// A nil SubjectAltNames lets the appliance use CommonName; an empty,
// non-nil slice asks for no SAN extension, hence omitzero, not omitempty.
type DistinguishedName struct {
	CountryName            string   `json:"countryName,omitempty"`
	StateOrProvinceName    string   `json:"stateOrProvinceName,omitempty"`
	LocalityName           string   `json:"localityName,omitempty"`
	OrganizationName       string   `json:"organizationName,omitempty"`
	OrganizationalUnitName string   `json:"organizationalUnitName,omitempty"`
	CommonName             string   `json:"commonName"`
	EmailAddress           string   `json:"emailAddress,omitempty"`
	SubjectAltNames        []string `json:"subjectAltNames,omitzero"`
}

// SignRequest is the body of /keys/{KeyID}/sign. Message is the data to
// sign, or its digest for the PKCS1, PSS and ECDSA modes.
type SignRequest struct {
	Mode    SignMode `json:"mode"`
	Message []byte   `json:"message"`
}

// DecryptRequest is the body of /keys/{KeyID}/decrypt; IV is only for
// AES_CBC.
type DecryptRequest struct {
	Mode      DecryptMode `json:"mode"`
	Encrypted []byte      `json:"encrypted"`
	IV        []byte      `json:"iv,omitempty"`
}

// EncryptRequest is the body of /keys/{KeyID}/encrypt. An empty IV lets the
// appliance choose one.
type EncryptRequest struct {
	Mode    EncryptMode `json:"mode"`
	Message []byte      `json:"message"`
	IV      []byte      `json:"iv,omitempty"`
}

// EncryptResponse is the answer of /keys/{KeyID}/encrypt.
type EncryptResponse struct {
	Encrypted []byte `json:"encrypted"`
	IV        []byte `json:"iv"`
}

// User is the answer of GET /users/{UserID}.
type User struct {
	RealName string   `json:"realName"`
	Role     UserRole `json:"role"`
}

// NewUser is the body that creates a user.
type NewUser struct {
	RealName   string   `json:"realName"`
	Role       UserRole `json:"role"`
	Passphrase string   `json:"passphrase"`
}

// PassphraseChange is the body that changes the unlock or backup passphrase.
type PassphraseChange struct {
	NewPassphrase     string `json:"newPassphrase"`
	CurrentPassphrase string `json:"currentPassphrase"`
}

// TLSKeyGenerateRequest is the body of /config/tls/generate.
type TLSKeyGenerateRequest struct {
	Type   TLSKeyType `json:"type"`
	Length int        `json:"length,omitempty"`
}

// SystemInfo is the answer of /system/info. AKPub maps a curve name (P256,
// P384) to the base64 DER attestation key; PCR maps a PCR index to its hex
// value.
type SystemInfo struct {
	SoftwareVersion string            `json:"softwareVersion"`
	SoftwareBuild   string            `json:"softwareBuild"`
	FirmwareVersion string            `json:"firmwareVersion"`
	HardwareVersion string            `json:"hardwareVersion"`
	DeviceID        string            `json:"deviceId"`
	AKPub           map[string]string `json:"akPub"`
	PCR             map[string]string `json:"pcr"`
}

// Wire-only shapes that the methods unwrap for the caller.
type (
	stateData struct {
		State SystemState `json:"state"`
	}
	randomRequest struct {
		Length int `json:"length"`
	}
	randomData struct {
		Random []byte `json:"random"`
	}
	idItem struct {
		ID string `json:"id"`
	}
	userItem struct {
		User string `json:"user"`
	}
	moveRequest struct {
		NewID string `json:"newId"`
	}
	labelRequest struct {
		Label string `json:"label"`
	}
	signData struct {
		Signature []byte `json:"signature"`
	}
	decryptData struct {
		Decrypted []byte `json:"decrypted"`
	}
	// passphraseData is the body of /unlock and /users/{UserID}/passphrase.
	passphraseData struct {
		Passphrase string `json:"passphrase"`
	}
	switchData struct {
		Status Switch `json:"status"`
	}
	timeData struct {
		Time time.Time `json:"time"`
	}
)
