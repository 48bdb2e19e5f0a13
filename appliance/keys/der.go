package keys

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"strings"
)

// pemFormat is the encoding a PEM block type promises and its parser.
type pemFormat struct {
	name  string
	parse func([]byte) (any, error)
}

// PEM block types FromPEM accepts.
var pemFormats = map[string]pemFormat{
	"PRIVATE KEY":     {"PKCS#8", x509.ParsePKCS8PrivateKey},
	"RSA PRIVATE KEY": {"PKCS#1 RSA", func(der []byte) (any, error) { return x509.ParsePKCS1PrivateKey(der) }},
	"EC PRIVATE KEY":  {"SEC1 EC", func(der []byte) (any, error) { return x509.ParseECPrivateKey(der) }},
}

// FromPEM builds a key from exactly one unencrypted PEM block: "PRIVATE KEY"
// (PKCS#8), "RSA PRIVATE KEY" (PKCS#1) or "EC PRIVATE KEY" (SEC1). Text
// around the block is ignored; a second block (including the "EC PARAMETERS"
// block some tools prepend) is an error. The type is derived from the key.
//
// Errors wrap ErrInvalid or, for encrypted PEM and unsupported key
// algorithms or curves, ErrUnsupported.
func FromPEM(pemBytes []byte, mechs []Mechanism) (*Key, error) {
	block, err := singleBlock(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("import PEM: %w", err)
	}
	if block.Type == "ENCRYPTED PRIVATE KEY" || block.Headers["Proc-Type"] != "" {
		return nil, unsupportedf("import PEM: encrypted private keys are not supported, decrypt the key first")
	}
	format, ok := pemFormats[block.Type]
	if !ok {
		return nil, invalidf("import PEM: block type %q is not a private key, want PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY", block.Type)
	}
	priv, err := format.parse(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("import PEM %s block: %w", block.Type, parseError(block.Bytes, format.name, err))
	}
	k, err := newAsymmetric(priv, mechs)
	if err != nil {
		return nil, fmt.Errorf("import PEM: %w", err)
	}
	return k, nil
}

// singleBlock returns the only PEM block in data.
func singleBlock(data []byte) (*pem.Block, error) {
	var blocks []*pem.Block
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		blocks = append(blocks, b)
	}
	switch len(blocks) {
	case 0:
		return nil, invalidf("no PEM block found")
	case 1:
		return blocks[0], nil
	}
	names := make([]string, len(blocks))
	for i, b := range blocks {
		names[i] = b.Type
	}
	return nil, invalidf("found %d PEM blocks (%s), want exactly one private key block",
		len(blocks), strings.Join(names, ", "))
}

// FromDER builds a key from a DER-encoded PKCS#8, PKCS#1 RSA or SEC1 EC
// private key. The type is derived from the key. Errors are as for FromPEM.
func FromDER(der []byte, mechs []Mechanism) (*Key, error) {
	priv, err := parseDER(der)
	if err != nil {
		return nil, fmt.Errorf("import DER: %w", err)
	}
	k, err := newAsymmetric(priv, mechs)
	if err != nil {
		return nil, fmt.Errorf("import DER: %w", err)
	}
	return k, nil
}

// parseDER tries the three private key encodings in turn.
func parseDER(der []byte) (any, error) {
	if priv, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return priv, nil
	}
	if priv, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return priv, nil
	}
	priv, err := x509.ParseECPrivateKey(der)
	if err == nil {
		return priv, nil
	}
	if uerr := unsupportedAlgorithm(der); uerr != nil {
		return nil, uerr
	}
	return nil, invalidf("data is not a PKCS#8, PKCS#1 RSA or SEC1 EC private key")
}

// parseError turns a parser's error into ErrUnsupported when the structure
// names an algorithm or curve we know but do not support, else ErrInvalid.
// The parser's message carries no key material and may help (an RSA key that
// fails validation says why), so it is kept in parentheses.
func parseError(der []byte, format string, err error) error {
	if uerr := unsupportedAlgorithm(der); uerr != nil {
		return uerr
	}
	return invalidf("not a valid %s private key (%v)", format, err)
}

// Object identifiers of key algorithms and curves that other tools put into
// private keys but that are not supported here, with a name for the error.
var unsupportedOIDs = map[string]string{
	"1.3.101.110":           "X25519",
	"1.3.101.111":           "X448",
	"1.3.101.113":           "Ed448",
	"1.2.840.113549.1.1.10": "RSASSA-PSS",
	"1.2.840.10040.4.1":     "DSA",
	"1.3.132.0.33":          "EC curve P-224",
	"1.3.132.0.10":          "EC curve secp256k1 (" + string(TypeECP256K1) + ")",
	"1.3.36.3.3.2.8.1.1.7":  "EC curve brainpoolP256r1 (" + string(TypeBrainpoolP256) + ")",
	"1.3.36.3.3.2.8.1.1.11": "EC curve brainpoolP384r1 (" + string(TypeBrainpoolP384) + ")",
	"1.3.36.3.3.2.8.1.1.13": "EC curve brainpoolP512r1 (" + string(TypeBrainpoolP512) + ")",
}

// pkcs8Head is the start of a PKCS#8 PrivateKeyInfo; later fields are ignored.
type pkcs8Head struct {
	Version    int
	Algorithm  pkix.AlgorithmIdentifier
	PrivateKey []byte
}

// sec1Head is a SEC1 ECPrivateKey with its optional curve parameter.
type sec1Head struct {
	Version       int
	PrivateKey    []byte
	NamedCurveOID asn1.ObjectIdentifier `asn1:"optional,explicit,tag:0"`
}

// unsupportedAlgorithm returns an ErrUnsupported error naming the algorithm
// or curve of a PKCS#8 or SEC1 structure we recognise but do not support, or
// nil.
func unsupportedAlgorithm(der []byte) error {
	var oids []asn1.ObjectIdentifier
	var p8 pkcs8Head
	var sec1 sec1Head
	if _, err := asn1.Unmarshal(der, &p8); err == nil {
		oids = append(oids, p8.Algorithm.Algorithm)
		var curve asn1.ObjectIdentifier
		if _, err := asn1.Unmarshal(p8.Algorithm.Parameters.FullBytes, &curve); err == nil {
			oids = append(oids, curve)
		}
	} else if _, err := asn1.Unmarshal(der, &sec1); err == nil {
		oids = append(oids, sec1.NamedCurveOID)
	}
	for _, oid := range oids {
		if name := unsupportedOIDs[oid.String()]; name != "" {
			return unsupportedf("%s keys are not supported", name)
		}
	}
	return nil
}
