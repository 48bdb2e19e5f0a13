package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"

	"github.com/keywarden/keywarden/appliance/client"
)

func cmdKeysSign(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags()
	mode := fs.String("mode", "", "signature `MODE`: PKCS1, PSS_SHA256, ..., EdDSA, ECDSA, BIP340 (required)")
	in := fs.String("message-file", "", "read the message (or digest) from `FILE` (default stdin)")
	out := fs.String("out", "", "write the raw signature to `FILE`")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *mode == "" {
		return usagef("keys sign: --mode is required")
	}
	msg, err := a.readInput(*in)
	if err != nil {
		return err
	}
	c, err := a.client(true)
	if err != nil {
		return err
	}
	sig, err := c.Sign(ctx, pos[0], client.SignRequest{Mode: client.SignMode(*mode), Message: msg})
	if err != nil {
		return fmt.Errorf("sign with key %s: %w", pos[0], err)
	}
	return a.emitBytes("signature", sig, *out)
}

func cmdKeysDecrypt(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags()
	mode := fs.String("mode", "", "decryption `MODE`: RAW, PKCS1, OAEP_SHA256, ..., AES_CBC (required)")
	in := fs.String("encrypted-file", "", "read the encrypted data from `FILE` (default stdin)")
	iv := fs.String("iv", "", "initialisation vector for AES_CBC, as `BASE64`")
	out := fs.String("out", "", "write the raw plaintext to `FILE`")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *mode == "" {
		return usagef("keys decrypt: --mode is required")
	}
	ivBytes, err := decodeIV(*iv)
	if err != nil {
		return err
	}
	data, err := a.readInput(*in)
	if err != nil {
		return err
	}
	c, err := a.client(true)
	if err != nil {
		return err
	}
	plain, err := c.Decrypt(ctx, pos[0], client.DecryptRequest{Mode: client.DecryptMode(*mode), Encrypted: data, IV: ivBytes})
	if err != nil {
		return fmt.Errorf("decrypt with key %s: %w", pos[0], err)
	}
	return a.emitBytes("decrypted", plain, *out)
}

func cmdKeysEncrypt(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags()
	mode := fs.String("mode", string(client.EncryptModeAESCBC), "encryption `MODE`")
	in := fs.String("message-file", "", "read the plaintext from `FILE` (default stdin)")
	iv := fs.String("iv", "", "initialisation vector as `BASE64` (default: chosen by the appliance)")
	out := fs.String("out", "", "write the raw ciphertext to `FILE` and print only the IV")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	ivBytes, err := decodeIV(*iv)
	if err != nil {
		return err
	}
	msg, err := a.readInput(*in)
	if err != nil {
		return err
	}
	c, err := a.client(true)
	if err != nil {
		return err
	}
	res, err := c.Encrypt(ctx, pos[0], client.EncryptRequest{Mode: client.EncryptMode(*mode), Message: msg, IV: ivBytes})
	if err != nil {
		return fmt.Errorf("encrypt with key %s: %w", pos[0], err)
	}
	if *out != "" {
		if err := writeFile(*out, res.Encrypted); err != nil {
			return err
		}
		return a.emitBytes("iv", res.IV, "")
	}
	b64 := base64.StdEncoding.EncodeToString
	return a.emit(res, func(w io.Writer) { fmt.Fprintf(w, "encrypted: %s\niv:        %s\n", b64(res.Encrypted), b64(res.IV)) })
}

func decodeIV(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, usagef("--iv: not base64: %v", err)
	}
	return b, nil
}
