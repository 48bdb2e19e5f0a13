// Package keys is the pure-crypto core of the key API: it creates, imports,
// stores and uses the application keys the appliance holds, with the types,
// mechanisms and modes of the NetHSM API v1 so that the REST layer can pass
// request values through unchanged.
//
// A Key carries its Type, its permitted Mechanisms and the private material.
// Keys come from Generate, FromJSON (the JSON import body), FromPEM or FromDER,
// or from (*Key).UnmarshalBinary of a value written by MarshalBinary; the
// caller encrypts that value before storing it. Every operation (Sign,
// Decrypt, Encrypt) first checks that the key carries the mechanism the mode
// needs.
//
// Errors wrap ErrInvalid, ErrUnsupported or ErrNotPermitted and their text
// says exactly what was wrong, because the API layer returns it to the client
// (as 400). No error and no formatted Key ever contains private material.
//
// A Key is immutable once built and safe for concurrent use.
//
//	k, err := keys.Generate(rand.Reader, keys.TypeECP256, 0, []keys.Mechanism{keys.MechECDSASignature})
//	if err != nil { ... }
//	sig, err := k.Sign(keys.SignECDSA, sha256Digest[:])
package keys
