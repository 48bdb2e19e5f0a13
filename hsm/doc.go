// Package hsm gives Keywarden access to a PKCS#11 token (an HSM, a smart card
// or SoftHSM2) through miekg/pkcs11: it opens a token by label, keeps a pool of
// logged-in sessions, creates non-extractable keys inside the token, wraps and
// unwraps small secrets with a token key, and hands out token-resident EC keys
// as crypto.Signer.
//
// # One library initialisation per process
//
// PKCS#11 allows C_Initialize only once per process for a given library, and
// C_Finalize ends the library for every user in the process. Open therefore
// goes through a package-level registry keyed by the module's canonical path:
// the first Open of a path loads and initialises the library, later Opens
// share it, and the last Close finalises and unloads it. Login state is shared
// the same way, because PKCS#11 logs the user into a token for the whole
// process, not for one session: the first Open of a token logs in, later Opens
// of that token must present the same PIN, and the last Close logs out.
//
// # Sessions
//
// Each Module keeps at most Config.MaxSessions sessions and uses one per
// operation, so a Module (and every Signer it returns) is safe for concurrent
// use. When the token reports that a session is gone (CKR_SESSION_HANDLE_INVALID,
// CKR_SESSION_CLOSED, CKR_DEVICE_REMOVED, CKR_TOKEN_NOT_PRESENT, or a lost
// login), the pool drops its sessions, finds the token again by label (slot IDs
// change when a token is re-inserted), logs in again with the PIN that worked,
// and retries the operation once.
//
// # PINs
//
// A login the token refuses is never retried: a retry loop is how a token gets
// locked. The refusal is returned as ErrPIN and remembered, so every later
// operation on that token fails with ErrPIN without asking the token again
// until every Module of the token is closed and it is opened afresh.
//
// # Without cgo
//
// PKCS#11 libraries are C libraries. A CGO_ENABLED=0 build compiles, but Open
// returns ErrNoCgo.
package hsm
