package keys

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"math/big"
)

// rawDecrypt computes m = c^d mod n (textbook RSA) and returns it as many
// bytes as the modulus.
//
// crypto/rsa has no unpadded private operation, so this uses math/big, which
// is not constant-time: its multiplications and reductions take time that
// depends on the operands, and its exponentiation looks up a window table
// indexed by exponent bits. We accept that for this mode because:
//   - the base is blinded with a fresh random r (c·r^e), so the values being
//     exponentiated are independent of the client's ciphertext and a remote
//     client cannot steer or average the timing, which is what the known
//     remote timing attacks on RSA need;
//   - what remains is cache-timing of the table lookups, which needs code
//     running on the appliance's own CPU, outside the threat model of a
//     single-tenant appliance;
//   - RAW must be granted to a key explicitly (RSA_Decryption_RAW).
//
// The CRT halves are recombined and the result checked with the public
// exponent, so a computation fault cannot leak a factor of n.
func rawDecrypt(priv *rsa.PrivateKey, ct []byte) ([]byte, error) {
	n, e := priv.N, big.NewInt(int64(priv.E))
	c := new(big.Int).SetBytes(ct)
	if c.Cmp(n) >= 0 {
		return nil, invalidf("ciphertext is not below the modulus")
	}
	r, rInv, err := blindingFactor(n)
	if err != nil {
		return nil, err
	}
	blinded := new(big.Int).Exp(r, e, n)
	blinded.Mul(blinded, c).Mod(blinded, n)
	m := crtExp(priv, blinded)
	m.Mul(m, rInv).Mod(m, n)
	if new(big.Int).Exp(m, e, n).Cmp(c) != 0 {
		return nil, errors.New("RSA computation failed its consistency check")
	}
	return m.FillBytes(make([]byte, priv.Size())), nil
}

// blindingFactor returns a random r invertible modulo n and its inverse.
func blindingFactor(n *big.Int) (r, rInv *big.Int, err error) {
	for {
		r, err = rand.Int(rand.Reader, n)
		if err != nil {
			return nil, nil, fmt.Errorf("blinding factor: %w", err)
		}
		if r.Sign() == 0 {
			continue
		}
		if rInv = new(big.Int).ModInverse(r, n); rInv != nil {
			return r, rInv, nil
		}
	}
}

// crtExp returns c^d mod n by the Chinese remainder theorem, about four
// times faster than a full-size exponentiation.
func crtExp(priv *rsa.PrivateKey, c *big.Int) *big.Int {
	pre := priv.Precomputed
	if pre.Dp == nil || pre.Dq == nil || pre.Qinv == nil {
		return new(big.Int).Exp(c, priv.D, priv.N)
	}
	p, q := priv.Primes[0], priv.Primes[1]
	m1 := new(big.Int).Exp(c, pre.Dp, p)
	m2 := new(big.Int).Exp(c, pre.Dq, q)
	h := m1.Sub(m1, m2)
	h.Mul(h, pre.Qinv).Mod(h, p) // Mod is Euclidean: h ends up in [0, p)
	return h.Mul(h, q).Add(h, m2)
}
