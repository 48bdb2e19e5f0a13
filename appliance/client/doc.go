// Package client is a typed Go client for the Keywarden REST API under
// /api/v1, which is wire-compatible with the NetHSM REST API v1.
//
// One Client holds one shared *http.Client (keep-alive, TLS session cache,
// HTTP/2 when the server offers it), so it is cheap to call from many
// goroutines at once; WithCredentials gives copies that act as other users
// over the same connections. Every non-2xx answer is returned as *APIError.
//
// Byte fields of requests and responses are []byte in Go and standard
// base64 on the wire, as encoding/json does by default.
//
//	c, err := client.New(client.Options{URL: u, User: "operator", Passphrase: p, CACertPEM: ca})
//	if err != nil { ... }
//	defer c.Close()
//	sig, err := c.Sign(ctx, "mykey", client.SignRequest{Mode: client.SignModeEdDSA, Message: msg})
package client
