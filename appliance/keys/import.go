package keys

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"math/big"
)

// PrivateJSON is the key part of the JSON import body (the PrivateKey schema
// of the API without restrictions and label, which are not key material).
type PrivateJSON struct {
	Type       Type        `json:"type"`
	Mechanisms []Mechanism `json:"mechanisms"`
	Private    PrivateData `json:"private"`
}

// PrivateData is the KeyPrivateData schema: standard base64 strings of
// big-endian integers (RSA primes and exponent, EC scalar), an RFC 8032 seed
// (Curve25519) or a raw AES key (Generic). Which fields are used depends on
// the key type; an empty string counts as absent.
type PrivateData struct {
	PrimeP         string `json:"primeP,omitempty"`
	PrimeQ         string `json:"primeQ,omitempty"`
	PublicExponent string `json:"publicExponent,omitempty"`
	Data           string `json:"data,omitempty"`
}

// FromJSON builds a key from the JSON import body. RSA keys are rebuilt from
// primeP, primeQ and publicExponent; EC keys take data as the big-endian
// private scalar (shorter input is left-padded); Curve25519 keys take data as
// the 32-byte seed; Generic keys take data as the AES key. Fields the type
// does not use must be absent.
//
// Errors wrap ErrInvalid or, for known but unsupported types, ErrUnsupported.
func FromJSON(p PrivateJSON) (*Key, error) {
	if err := p.Type.checkSupported(); err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	if _, err := checkMechanisms(p.Type, p.Mechanisms); err != nil {
		return nil, fmt.Errorf("import %s: %w", p.Type, err)
	}
	k, err := fromPrivateData(p.Type, p.Private, p.Mechanisms)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", p.Type, err)
	}
	return k, nil
}

func fromPrivateData(t Type, d PrivateData, mechs []Mechanism) (*Key, error) {
	if t == TypeRSA {
		priv, err := rsaFromJSON(d)
		if err != nil {
			return nil, err
		}
		return newAsymmetric(priv, mechs)
	}
	if d.PrimeP != "" || d.PrimeQ != "" || d.PublicExponent != "" {
		return nil, invalidf("private.primeP, primeQ and publicExponent are only for RSA keys")
	}
	data, err := decodeField("data", d.Data)
	if err != nil {
		return nil, err
	}
	switch t {
	case TypeGeneric:
		return newGeneric(data, mechs)
	case TypeCurve25519:
		if len(data) != ed25519.SeedSize {
			return nil, invalidf("private.data is %d bytes, want a %d-byte seed", len(data), ed25519.SeedSize)
		}
		return newAsymmetric(ed25519.NewKeyFromSeed(data), mechs)
	default:
		priv, err := ecFromScalar(t, data)
		if err != nil {
			return nil, err
		}
		return newAsymmetric(priv, mechs)
	}
}

// decodeField decodes a required standard-base64 field of PrivateData.
func decodeField(name, s string) ([]byte, error) {
	if s == "" {
		return nil, invalidf("private.%s is required", name)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, invalidf("private.%s is not valid base64", name)
	}
	return b, nil
}

// ecFromScalar parses a big-endian private scalar of any length up to the
// curve's; leading zero bytes beyond it are tolerated because signed-integer
// encoders add one when the top bit is set.
func ecFromScalar(t Type, data []byte) (*ecdsa.PrivateKey, error) {
	c := typeCurve(t)
	size := (c.Params().N.BitLen() + 7) / 8
	d := bytes.TrimLeft(data, "\x00")
	if len(d) > size {
		return nil, invalidf("private.data is %d bytes, longer than a %d-byte %s scalar", len(data), size, t)
	}
	buf := make([]byte, size)
	copy(buf[size-len(d):], d)
	priv, err := ecdsa.ParseRawPrivateKey(c, buf)
	if err != nil {
		return nil, invalidf("private.data is not a valid %s scalar (zero or not below the group order)", t)
	}
	return priv, nil
}

// rsaFromJSON decodes primeP, primeQ and publicExponent and rebuilds the key.
func rsaFromJSON(d PrivateData) (*rsa.PrivateKey, error) {
	if d.Data != "" {
		return nil, invalidf("private.data is not used for RSA keys")
	}
	var fields [3][]byte
	for i, f := range []struct{ name, val string }{
		{"primeP", d.PrimeP}, {"primeQ", d.PrimeQ}, {"publicExponent", d.PublicExponent},
	} {
		b, err := decodeField(f.name, f.val)
		if err != nil {
			return nil, err
		}
		fields[i] = b
	}
	p, q, e := new(big.Int).SetBytes(fields[0]), new(big.Int).SetBytes(fields[1]), new(big.Int).SetBytes(fields[2])
	return rsaFromPrimes(p, q, e)
}

// primeRounds is the number of Miller-Rabin rounds run on imported primes in
// addition to Baillie-PSW. Imports come from an administrator, so this guards
// against mistakes, not against adversarially chosen composites.
const primeRounds = 10

// rsaFromPrimes computes n, d and the CRT values from p, q and e and lets the
// crypto library check the result.
func rsaFromPrimes(p, q, e *big.Int) (*rsa.PrivateKey, error) {
	if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Bit(0) == 0 {
		return nil, invalidf("private.publicExponent must be odd and between 3 and 2^31-1")
	}
	// Bound the sizes before multiplying or testing primality, both of
	// which are costly on huge inputs.
	if p.BitLen()+q.BitLen() > maxRSABits+1 {
		return nil, invalidf("primes are too large for a %d-bit modulus", maxRSABits)
	}
	n := new(big.Int).Mul(p, q)
	if err := checkRSABits(n.BitLen()); err != nil {
		return nil, err
	}
	if p.Cmp(q) == 0 {
		return nil, invalidf("private.primeP and private.primeQ are equal")
	}
	if !p.ProbablyPrime(primeRounds) || !q.ProbablyPrime(primeRounds) {
		return nil, invalidf("private.primeP or private.primeQ is not prime")
	}
	d, err := rsaPrivateExponent(p, q, e)
	if err != nil {
		return nil, err
	}
	priv := &rsa.PrivateKey{
		PublicKey: rsa.PublicKey{N: n, E: int(e.Int64())},
		D:         d,
		Primes:    []*big.Int{p, q},
	}
	priv.Precompute()
	if err := priv.Validate(); err != nil {
		return nil, invalidf("RSA key is not valid: %v", err)
	}
	return priv, nil
}

// rsaPrivateExponent returns d = e⁻¹ mod lcm(p-1, q-1).
func rsaPrivateExponent(p, q, e *big.Int) (*big.Int, error) {
	one := big.NewInt(1)
	pm1 := new(big.Int).Sub(p, one)
	qm1 := new(big.Int).Sub(q, one)
	g := new(big.Int).GCD(nil, nil, pm1, qm1)
	lambda := new(big.Int).Mul(pm1, qm1)
	lambda.Quo(lambda, g)
	d := new(big.Int).ModInverse(e, lambda)
	if d == nil {
		return nil, invalidf("private.publicExponent is not coprime to lcm(p-1, q-1)")
	}
	return d, nil
}
