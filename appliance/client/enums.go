package client

// SystemState is the appliance state reported by /health/state.
type SystemState string

// Appliance states.
const (
	StateUnprovisioned SystemState = "Unprovisioned"
	StateLocked        SystemState = "Locked"
	StateOperational   SystemState = "Operational"
	StateFailed        SystemState = "Failed"
)

// UserRole is the role of a user account.
type UserRole string

// User roles.
const (
	RoleAdministrator UserRole = "Administrator"
	RoleOperator      UserRole = "Operator"
	RoleMetrics       UserRole = "Metrics"
	RoleBackup        UserRole = "Backup"
)

// KeyType is the algorithm and size family of a stored key.
type KeyType string

// Key types.
const (
	KeyTypeRSA           KeyType = "RSA"
	KeyTypeCurve25519    KeyType = "Curve25519"
	KeyTypeECP256        KeyType = "EC_P256"
	KeyTypeECP384        KeyType = "EC_P384"
	KeyTypeECP521        KeyType = "EC_P521"
	KeyTypeECP256K1      KeyType = "EC_P256K1"
	KeyTypeBrainpoolP256 KeyType = "BrainpoolP256"
	KeyTypeBrainpoolP384 KeyType = "BrainpoolP384"
	KeyTypeBrainpoolP512 KeyType = "BrainpoolP512"
	KeyTypeGeneric       KeyType = "Generic"
)

// TLSKeyType is the type of the appliance's own TLS key; it is KeyType
// without the secp256k1 and Generic types.
type TLSKeyType string

// TLS key types.
const (
	TLSKeyTypeRSA           TLSKeyType = "RSA"
	TLSKeyTypeCurve25519    TLSKeyType = "Curve25519"
	TLSKeyTypeECP256        TLSKeyType = "EC_P256"
	TLSKeyTypeECP384        TLSKeyType = "EC_P384"
	TLSKeyTypeECP521        TLSKeyType = "EC_P521"
	TLSKeyTypeBrainpoolP256 TLSKeyType = "BrainpoolP256"
	TLSKeyTypeBrainpoolP384 TLSKeyType = "BrainpoolP384"
	TLSKeyTypeBrainpoolP512 TLSKeyType = "BrainpoolP512"
)

// KeyMechanism is one operation a key is allowed to perform.
type KeyMechanism string

// Key mechanisms.
const (
	MechRSADecryptionRAW        KeyMechanism = "RSA_Decryption_RAW"
	MechRSADecryptionPKCS1      KeyMechanism = "RSA_Decryption_PKCS1"
	MechRSADecryptionOAEPMD5    KeyMechanism = "RSA_Decryption_OAEP_MD5"
	MechRSADecryptionOAEPSHA1   KeyMechanism = "RSA_Decryption_OAEP_SHA1"
	MechRSADecryptionOAEPSHA224 KeyMechanism = "RSA_Decryption_OAEP_SHA224"
	MechRSADecryptionOAEPSHA256 KeyMechanism = "RSA_Decryption_OAEP_SHA256"
	MechRSADecryptionOAEPSHA384 KeyMechanism = "RSA_Decryption_OAEP_SHA384"
	MechRSADecryptionOAEPSHA512 KeyMechanism = "RSA_Decryption_OAEP_SHA512"
	MechRSASignaturePKCS1       KeyMechanism = "RSA_Signature_PKCS1"
	MechRSASignaturePSSMD5      KeyMechanism = "RSA_Signature_PSS_MD5"
	MechRSASignaturePSSSHA1     KeyMechanism = "RSA_Signature_PSS_SHA1"
	MechRSASignaturePSSSHA224   KeyMechanism = "RSA_Signature_PSS_SHA224"
	MechRSASignaturePSSSHA256   KeyMechanism = "RSA_Signature_PSS_SHA256"
	MechRSASignaturePSSSHA384   KeyMechanism = "RSA_Signature_PSS_SHA384"
	MechRSASignaturePSSSHA512   KeyMechanism = "RSA_Signature_PSS_SHA512"
	MechEdDSASignature          KeyMechanism = "EdDSA_Signature"
	MechECDSASignature          KeyMechanism = "ECDSA_Signature"
	MechBIP340Signature         KeyMechanism = "BIP340_Signature"
	MechAESEncryptionCBC        KeyMechanism = "AES_Encryption_CBC"
	MechAESDecryptionCBC        KeyMechanism = "AES_Decryption_CBC"
)

// SignMode selects the signature scheme of a sign request.
type SignMode string

// Sign modes.
const (
	SignModePKCS1     SignMode = "PKCS1"
	SignModePSSMD5    SignMode = "PSS_MD5"
	SignModePSSSHA1   SignMode = "PSS_SHA1"
	SignModePSSSHA224 SignMode = "PSS_SHA224"
	SignModePSSSHA256 SignMode = "PSS_SHA256"
	SignModePSSSHA384 SignMode = "PSS_SHA384"
	SignModePSSSHA512 SignMode = "PSS_SHA512"
	SignModeEdDSA     SignMode = "EdDSA"
	SignModeECDSA     SignMode = "ECDSA"
	SignModeBIP340    SignMode = "BIP340"
)

// DecryptMode selects the padding or cipher mode of a decrypt request.
type DecryptMode string

// Decrypt modes.
const (
	DecryptModeRAW        DecryptMode = "RAW"
	DecryptModePKCS1      DecryptMode = "PKCS1"
	DecryptModeOAEPMD5    DecryptMode = "OAEP_MD5"
	DecryptModeOAEPSHA1   DecryptMode = "OAEP_SHA1"
	DecryptModeOAEPSHA224 DecryptMode = "OAEP_SHA224"
	DecryptModeOAEPSHA256 DecryptMode = "OAEP_SHA256"
	DecryptModeOAEPSHA384 DecryptMode = "OAEP_SHA384"
	DecryptModeOAEPSHA512 DecryptMode = "OAEP_SHA512"
	DecryptModeAESCBC     DecryptMode = "AES_CBC"
)

// EncryptMode selects the cipher mode of an encrypt request.
type EncryptMode string

// EncryptModeAESCBC is the only encrypt mode of API v1.
const EncryptModeAESCBC EncryptMode = "AES_CBC"

// Switch is an on/off setting.
type Switch string

// Switch values.
const (
	SwitchOn  Switch = "on"
	SwitchOff Switch = "off"
)
