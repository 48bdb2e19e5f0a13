package tpm

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"golang.org/x/crypto/cryptobyte"
)

// Blob layout, version 1:
//
//	magic "KWTB" | version | flags | device id (32) | storage key id (32) |
//	PCR count n | n PCR indices (1 byte each, increasing) |
//	n SHA-256 PCR values at sealing time |
//	TPM2B_PUBLIC | TPM2B_PRIVATE of the sealed data object
//
// Nothing in it is secret: the sealed data is encrypted by the storage key,
// which never leaves the TPM. The header is not encrypted or MACed itself but
// is checked against what the TPM authenticates: the TPM's integrity check on
// Load covers the public area, whose authPolicy must equal the policy that
// the header's PCR list and values produce.
const (
	blobMagic   = "KWTB" // Keywarden TPM Blob
	blobVersion = 1
	idSize      = 32
	flagEmpty   = 1 << 0 // the secret is empty
)

func (b *sealedBlob) empty() bool { return b.flags&flagEmpty != 0 }

// sealedBlob is a parsed blob.
type sealedBlob struct {
	flags   uint8
	device  [idSize]byte // SHA-256 of the identity key's name
	storage [idSize]byte // SHA-256 of the storage key's name
	pcrs    []int
	values  [][]byte // values of pcrs when the secret was sealed
	public  tpm2.TPM2BPublic
	private tpm2.TPM2BPrivate
}

// encode returns the blob's wire form.
func (b *sealedBlob) encode() []byte {
	var out cryptobyte.Builder
	out.AddBytes([]byte(blobMagic))
	out.AddUint8(blobVersion)
	out.AddUint8(b.flags)
	out.AddBytes(b.device[:])
	out.AddBytes(b.storage[:])
	out.AddUint8(uint8(len(b.pcrs)))
	for _, p := range b.pcrs {
		out.AddUint8(uint8(p))
	}
	for _, v := range b.values {
		out.AddBytes(v)
	}
	out.AddBytes(tpm2.Marshal(b.public))
	out.AddBytes(tpm2.Marshal(b.private))
	return out.BytesOrPanic()
}

// parseBlob decodes data and checks that it is a whole, self-consistent
// version 1 blob. It does not check which device it belongs to. Errors
// describe the defect; the caller wraps rot.ErrMalformed.
func parseBlob(data []byte) (*sealedBlob, error) {
	s := cryptobyte.String(data)
	var (
		magic   []byte
		version uint8
		b       sealedBlob
	)
	if !s.ReadBytes(&magic, len(blobMagic)) || string(magic) != blobMagic || !s.ReadUint8(&version) {
		return nil, errors.New("not a TPM root of trust blob")
	}
	if version != blobVersion {
		return nil, fmt.Errorf("blob version %d, want %d", version, blobVersion)
	}
	if !s.ReadUint8(&b.flags) || !s.CopyBytes(b.device[:]) || !s.CopyBytes(b.storage[:]) {
		return nil, errors.New("truncated header")
	}
	if b.flags&^flagEmpty != 0 {
		return nil, fmt.Errorf("unknown flags %#x", b.flags)
	}
	if err := b.readPCRs(&s); err != nil {
		return nil, err
	}
	var public, private []byte
	if !s.ReadUint16LengthPrefixed((*cryptobyte.String)(&public)) ||
		!s.ReadUint16LengthPrefixed((*cryptobyte.String)(&private)) || !s.Empty() {
		return nil, errors.New("truncated or trailing data after the header")
	}
	if len(private) == 0 {
		return nil, errors.New("empty private part")
	}
	b.public = tpm2.BytesAs2B[tpm2.TPMTPublic](public)
	b.private = tpm2.TPM2BPrivate{Buffer: private}
	if err := b.checkPublic(); err != nil {
		return nil, err
	}
	return &b, nil
}

// readPCRs reads the PCR list and the sealing-time values.
func (b *sealedBlob) readPCRs(s *cryptobyte.String) error {
	var n uint8
	if !s.ReadUint8(&n) || n == 0 || n > numPCRs {
		return errors.New("bad PCR count")
	}
	for i := range int(n) {
		var p uint8
		if !s.ReadUint8(&p) || p >= numPCRs || (i > 0 && int(p) <= b.pcrs[i-1]) {
			return errors.New("bad PCR list")
		}
		b.pcrs = append(b.pcrs, int(p))
	}
	for range b.pcrs {
		var v []byte
		if !s.ReadBytes(&v, pcrSize) {
			return errors.New("truncated PCR values")
		}
		b.values = append(b.values, v)
	}
	return nil
}

// checkPublic requires the public area to be a sealed data object this
// package would have created for the header's PCR list and values.
func (b *sealedBlob) checkPublic() error {
	pub, err := b.public.Contents()
	if err != nil {
		return fmt.Errorf("public area: %w", err)
	}
	if !bytes.Equal(tpm2.Marshal(*pub), b.public.Bytes()) {
		return errors.New("public area: trailing data")
	}
	policy, err := policyDigest(b.pcrs, b.values, b.empty())
	if err != nil {
		return err
	}
	want := sealTemplate(policy)
	if !bytes.Equal(tpm2.Marshal(withoutUnique(*pub)), tpm2.Marshal(withoutUnique(want))) {
		return errors.New("public area is not a sealed object bound to the header's PCR policy")
	}
	return nil
}

// sealTemplate is the public area of a sealed data object: only a policy
// session satisfying policy can use it (no user auth, and admin actions also
// need the policy), and it can never leave this TPM or its parent.
func sealTemplate(policy []byte) tpm2.TPMTPublic {
	return tpm2.TPMTPublic{
		Type:    tpm2.TPMAlgKeyedHash,
		NameAlg: tpm2.TPMAlgSHA256,
		ObjectAttributes: tpm2.TPMAObject{
			FixedTPM:        true,
			FixedParent:     true,
			UserWithAuth:    false,
			AdminWithPolicy: true,
			NoDA:            true,
		},
		AuthPolicy: tpm2.TPM2BDigest{Buffer: policy},
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgKeyedHash, &tpm2.TPMSKeyedHashParms{
			Scheme: tpm2.TPMTKeyedHashScheme{Scheme: tpm2.TPMAlgNull},
		}),
		Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgKeyedHash, &tpm2.TPM2BDigest{}),
	}
}

// withoutUnique blanks the field the TPM fills in, so that a created object
// can be compared with the template it came from.
func withoutUnique(pub tpm2.TPMTPublic) tpm2.TPMTPublic {
	switch pub.Type {
	case tpm2.TPMAlgKeyedHash:
		pub.Unique = tpm2.NewTPMUPublicID(tpm2.TPMAlgKeyedHash, &tpm2.TPM2BDigest{})
	case tpm2.TPMAlgECC:
		pub.Unique = tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{})
	}
	return pub
}
