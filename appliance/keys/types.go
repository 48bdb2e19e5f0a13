package keys

import (
	"crypto"
	"fmt"
	"slices"
)

// Type is a key type, spelled as the KeyType enum of the NetHSM API.
type Type string

// Key types. EC_P256K1 and the Brainpool curves are valid names but
// unsupported: operations on them fail with ErrUnsupported.
const (
	TypeRSA           Type = "RSA"
	TypeCurve25519    Type = "Curve25519" // Ed25519 signing keys, as on NetHSM
	TypeECP256        Type = "EC_P256"
	TypeECP384        Type = "EC_P384"
	TypeECP521        Type = "EC_P521"
	TypeECP256K1      Type = "EC_P256K1"
	TypeBrainpoolP256 Type = "BrainpoolP256"
	TypeBrainpoolP384 Type = "BrainpoolP384"
	TypeBrainpoolP512 Type = "BrainpoolP512"
	TypeGeneric       Type = "Generic" // AES-128/192/256
)

var allTypes = []Type{
	TypeRSA, TypeCurve25519, TypeECP256, TypeECP384, TypeECP521, TypeECP256K1,
	TypeBrainpoolP256, TypeBrainpoolP384, TypeBrainpoolP512, TypeGeneric,
}

// ParseType returns s as a Type, or an error wrapping ErrInvalid if s is not
// one of the API's key types. Unsupported types parse successfully.
func ParseType(s string) (Type, error) {
	t := Type(s)
	return t, t.Validate()
}

// Validate returns an error wrapping ErrInvalid if t is not a known key type.
func (t Type) Validate() error {
	if !slices.Contains(allTypes, t) {
		return invalidf("key type %q is unknown", string(t))
	}
	return nil
}

// Supported reports whether keys of type t can be created and used here.
func (t Type) Supported() bool {
	switch t {
	case TypeRSA, TypeCurve25519, TypeECP256, TypeECP384, TypeECP521, TypeGeneric:
		return true
	}
	return false
}

// checkSupported returns nil for a supported type, ErrUnsupported for a known
// but unsupported one and ErrInvalid for an unknown one.
func (t Type) checkSupported() error {
	if err := t.Validate(); err != nil {
		return err
	}
	if !t.Supported() {
		return unsupportedf("key type %s is not supported", t)
	}
	return nil
}

// Mechanism is an operation a key is allowed to perform, spelled as the
// KeyMechanism enum of the NetHSM API.
type Mechanism string

// Key mechanisms. BIP340_Signature is a valid name but unsupported.
const (
	MechRSADecryptionRAW        Mechanism = "RSA_Decryption_RAW"
	MechRSADecryptionPKCS1      Mechanism = "RSA_Decryption_PKCS1"
	MechRSADecryptionOAEPMD5    Mechanism = "RSA_Decryption_OAEP_MD5"
	MechRSADecryptionOAEPSHA1   Mechanism = "RSA_Decryption_OAEP_SHA1"
	MechRSADecryptionOAEPSHA224 Mechanism = "RSA_Decryption_OAEP_SHA224"
	MechRSADecryptionOAEPSHA256 Mechanism = "RSA_Decryption_OAEP_SHA256"
	MechRSADecryptionOAEPSHA384 Mechanism = "RSA_Decryption_OAEP_SHA384"
	MechRSADecryptionOAEPSHA512 Mechanism = "RSA_Decryption_OAEP_SHA512"
	MechRSASignaturePKCS1       Mechanism = "RSA_Signature_PKCS1"
	MechRSASignaturePSSMD5      Mechanism = "RSA_Signature_PSS_MD5"
	MechRSASignaturePSSSHA1     Mechanism = "RSA_Signature_PSS_SHA1"
	MechRSASignaturePSSSHA224   Mechanism = "RSA_Signature_PSS_SHA224"
	MechRSASignaturePSSSHA256   Mechanism = "RSA_Signature_PSS_SHA256"
	MechRSASignaturePSSSHA384   Mechanism = "RSA_Signature_PSS_SHA384"
	MechRSASignaturePSSSHA512   Mechanism = "RSA_Signature_PSS_SHA512"
	MechEdDSASignature          Mechanism = "EdDSA_Signature"
	MechECDSASignature          Mechanism = "ECDSA_Signature"
	MechBIP340Signature         Mechanism = "BIP340_Signature"
	MechAESEncryptionCBC        Mechanism = "AES_Encryption_CBC"
	MechAESDecryptionCBC        Mechanism = "AES_Decryption_CBC"
)

// mechanismTypes lists, for every known mechanism, the key types it fits.
var mechanismTypes = map[Mechanism][]Type{
	MechRSADecryptionRAW:        {TypeRSA},
	MechRSADecryptionPKCS1:      {TypeRSA},
	MechRSADecryptionOAEPMD5:    {TypeRSA},
	MechRSADecryptionOAEPSHA1:   {TypeRSA},
	MechRSADecryptionOAEPSHA224: {TypeRSA},
	MechRSADecryptionOAEPSHA256: {TypeRSA},
	MechRSADecryptionOAEPSHA384: {TypeRSA},
	MechRSADecryptionOAEPSHA512: {TypeRSA},
	MechRSASignaturePKCS1:       {TypeRSA},
	MechRSASignaturePSSMD5:      {TypeRSA},
	MechRSASignaturePSSSHA1:     {TypeRSA},
	MechRSASignaturePSSSHA224:   {TypeRSA},
	MechRSASignaturePSSSHA256:   {TypeRSA},
	MechRSASignaturePSSSHA384:   {TypeRSA},
	MechRSASignaturePSSSHA512:   {TypeRSA},
	MechEdDSASignature:          {TypeCurve25519},
	MechECDSASignature: {TypeECP256, TypeECP384, TypeECP521, TypeECP256K1,
		TypeBrainpoolP256, TypeBrainpoolP384, TypeBrainpoolP512},
	MechBIP340Signature:  {TypeECP256K1},
	MechAESEncryptionCBC: {TypeGeneric},
	MechAESDecryptionCBC: {TypeGeneric},
}

// ParseMechanism returns s as a Mechanism, or an error wrapping ErrInvalid if
// s is not one of the API's mechanisms.
func ParseMechanism(s string) (Mechanism, error) {
	m := Mechanism(s)
	return m, m.Validate()
}

// Validate returns an error wrapping ErrInvalid if m is not a known mechanism.
func (m Mechanism) Validate() error {
	if _, ok := mechanismTypes[m]; !ok {
		return invalidf("mechanism %q is unknown", string(m))
	}
	return nil
}

// checkMechanisms validates mechs for a key of type t and returns them
// without duplicates, in their first-seen order.
func checkMechanisms(t Type, mechs []Mechanism) ([]Mechanism, error) {
	if len(mechs) == 0 {
		return nil, invalidf("mechanisms: at least one mechanism is required")
	}
	out := make([]Mechanism, 0, len(mechs))
	for _, m := range mechs {
		if err := m.Validate(); err != nil {
			return nil, fmt.Errorf("mechanisms: %w", err)
		}
		if m == MechBIP340Signature {
			return nil, unsupportedf("mechanisms: %s is not supported", m)
		}
		if !slices.Contains(mechanismTypes[m], t) {
			return nil, invalidf("mechanisms: %s is not valid for %s keys", m, t)
		}
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out, nil
}

// SignMode is a signature scheme, spelled as the SignMode enum of the API.
type SignMode string

// Sign modes. BIP340 is a valid name but unsupported.
const (
	SignPKCS1     SignMode = "PKCS1"
	SignPSSMD5    SignMode = "PSS_MD5"
	SignPSSSHA1   SignMode = "PSS_SHA1"
	SignPSSSHA224 SignMode = "PSS_SHA224"
	SignPSSSHA256 SignMode = "PSS_SHA256"
	SignPSSSHA384 SignMode = "PSS_SHA384"
	SignPSSSHA512 SignMode = "PSS_SHA512"
	SignEdDSA     SignMode = "EdDSA"
	SignECDSA     SignMode = "ECDSA"
	SignBIP340    SignMode = "BIP340"
)

// modeInfo is what an operation mode needs: the mechanism that permits it
// and, for PSS and OAEP, the hash it uses.
type modeInfo struct {
	mech Mechanism
	hash crypto.Hash
}

var signModes = map[SignMode]modeInfo{
	SignPKCS1:     {MechRSASignaturePKCS1, 0},
	SignPSSMD5:    {MechRSASignaturePSSMD5, crypto.MD5},
	SignPSSSHA1:   {MechRSASignaturePSSSHA1, crypto.SHA1},
	SignPSSSHA224: {MechRSASignaturePSSSHA224, crypto.SHA224},
	SignPSSSHA256: {MechRSASignaturePSSSHA256, crypto.SHA256},
	SignPSSSHA384: {MechRSASignaturePSSSHA384, crypto.SHA384},
	SignPSSSHA512: {MechRSASignaturePSSSHA512, crypto.SHA512},
	SignEdDSA:     {MechEdDSASignature, 0},
	SignECDSA:     {MechECDSASignature, 0},
	SignBIP340:    {MechBIP340Signature, 0},
}

// ParseSignMode returns s as a SignMode, or an error wrapping ErrInvalid if s
// is not one of the API's sign modes.
func ParseSignMode(s string) (SignMode, error) {
	m := SignMode(s)
	return m, m.Validate()
}

// Validate returns an error wrapping ErrInvalid if m is not a known sign mode.
func (m SignMode) Validate() error {
	if _, ok := signModes[m]; !ok {
		return invalidf("sign mode %q is unknown", string(m))
	}
	return nil
}

// DecryptMode is a decryption scheme, spelled as the DecryptMode enum.
type DecryptMode string

// Decrypt modes.
const (
	DecryptRAW        DecryptMode = "RAW"
	DecryptPKCS1      DecryptMode = "PKCS1"
	DecryptOAEPMD5    DecryptMode = "OAEP_MD5"
	DecryptOAEPSHA1   DecryptMode = "OAEP_SHA1"
	DecryptOAEPSHA224 DecryptMode = "OAEP_SHA224"
	DecryptOAEPSHA256 DecryptMode = "OAEP_SHA256"
	DecryptOAEPSHA384 DecryptMode = "OAEP_SHA384"
	DecryptOAEPSHA512 DecryptMode = "OAEP_SHA512"
	DecryptAESCBC     DecryptMode = "AES_CBC"
)

var decryptModes = map[DecryptMode]modeInfo{
	DecryptRAW:        {MechRSADecryptionRAW, 0},
	DecryptPKCS1:      {MechRSADecryptionPKCS1, 0},
	DecryptOAEPMD5:    {MechRSADecryptionOAEPMD5, crypto.MD5},
	DecryptOAEPSHA1:   {MechRSADecryptionOAEPSHA1, crypto.SHA1},
	DecryptOAEPSHA224: {MechRSADecryptionOAEPSHA224, crypto.SHA224},
	DecryptOAEPSHA256: {MechRSADecryptionOAEPSHA256, crypto.SHA256},
	DecryptOAEPSHA384: {MechRSADecryptionOAEPSHA384, crypto.SHA384},
	DecryptOAEPSHA512: {MechRSADecryptionOAEPSHA512, crypto.SHA512},
	DecryptAESCBC:     {MechAESDecryptionCBC, 0},
}

// ParseDecryptMode returns s as a DecryptMode, or an error wrapping
// ErrInvalid if s is not one of the API's decrypt modes.
func ParseDecryptMode(s string) (DecryptMode, error) {
	m := DecryptMode(s)
	return m, m.Validate()
}

// Validate returns an error wrapping ErrInvalid if m is not a known decrypt mode.
func (m DecryptMode) Validate() error {
	if _, ok := decryptModes[m]; !ok {
		return invalidf("decrypt mode %q is unknown", string(m))
	}
	return nil
}

// EncryptMode is an encryption scheme, spelled as the EncryptMode enum.
type EncryptMode string

// EncryptAESCBC is the only encrypt mode of the API.
const EncryptAESCBC EncryptMode = "AES_CBC"

var encryptModes = map[EncryptMode]modeInfo{
	EncryptAESCBC: {MechAESEncryptionCBC, 0},
}

// ParseEncryptMode returns s as an EncryptMode, or an error wrapping
// ErrInvalid if s is not one of the API's encrypt modes.
func ParseEncryptMode(s string) (EncryptMode, error) {
	m := EncryptMode(s)
	return m, m.Validate()
}

// Validate returns an error wrapping ErrInvalid if m is not a known encrypt mode.
func (m EncryptMode) Validate() error {
	if _, ok := encryptModes[m]; !ok {
		return invalidf("encrypt mode %q is unknown", string(m))
	}
	return nil
}
