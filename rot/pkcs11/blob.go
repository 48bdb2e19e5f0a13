package pkcs11

import (
	"crypto/subtle"
	"encoding/binary"
	"fmt"

	"github.com/keywarden/keywarden/hsm"
	"github.com/keywarden/keywarden/rot"
)

// Blob layout:
//
//	magic "KWPB" | version (1) | device id (32) | length (2, big endian) | wrapped
//
// wrapped is hsm.Module.Wrap's output (its first byte names the wrap
// mechanism), bound to magic | version | device id as associated data, so
// neither can be altered unnoticed. The length is framing only: it lets a
// truncated blob be reported as malformed rather than as another device's.
const (
	blobMagic    = "KWPB" // Keywarden PKCS#11 Blob
	blobVersion  = 1
	deviceIDSize = 32
	adSize       = len(blobMagic) + 1 + deviceIDSize
	headerSize   = adSize + 2
)

// associatedData returns the authenticated part of the header.
func associatedData(id [deviceIDSize]byte) []byte {
	ad := make([]byte, 0, adSize)
	ad = append(ad, blobMagic...)
	ad = append(ad, blobVersion)
	return append(ad, id[:]...)
}

// frame puts the header in front of wrapped.
func frame(ad, wrapped []byte) []byte {
	blob := make([]byte, 0, headerSize+len(wrapped))
	blob = append(blob, ad...)
	blob = binary.BigEndian.AppendUint16(blob, uint16(len(wrapped)))
	return append(blob, wrapped...)
}

// parse checks the blob's shape, then its device, in that order, and returns
// the associated data and the wrapped secret.
func parse(blob []byte, id [deviceIDSize]byte) (ad, wrapped []byte, err error) {
	if len(blob) < headerSize || string(blob[:len(blobMagic)]) != blobMagic {
		return nil, nil, fmt.Errorf("pkcs11 unseal: not a PKCS#11 root of trust blob: %w", rot.ErrMalformed)
	}
	if v := blob[len(blobMagic)]; v != blobVersion {
		return nil, nil, fmt.Errorf("pkcs11 unseal: blob version %d, want %d: %w", v, blobVersion, rot.ErrMalformed)
	}
	ad, wrapped = blob[:adSize], blob[headerSize:]
	if n := int(binary.BigEndian.Uint16(blob[adSize:])); n != len(wrapped) {
		return nil, nil, fmt.Errorf("pkcs11 unseal: blob says %d wrapped bytes, has %d: %w", n, len(wrapped), rot.ErrMalformed)
	}
	if err := hsm.CheckWrapped(wrapped); err != nil {
		return nil, nil, fmt.Errorf("pkcs11 unseal: %w: %w", rot.ErrMalformed, err)
	}
	if subtle.ConstantTimeCompare(ad[len(blobMagic)+1:], id[:]) != 1 {
		return nil, nil, fmt.Errorf("pkcs11 unseal: %w", rot.ErrWrongDevice)
	}
	return ad, wrapped, nil
}
