// Package hsm will give Keywarden PKCS#11 access (miekg/pkcs11): the module,
// a session pool, keys as crypto.Signer and crypto.Decrypter, wrap and unwrap.
// It is empty until the roots-of-trust issue; it exists now so the layout the
// design fixes is visible from the start.
package hsm
