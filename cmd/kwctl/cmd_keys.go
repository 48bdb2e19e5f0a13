package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/keywarden/keywarden/appliance/client"
)

func keyCommands() []*command {
	return []*command{
		{name: "generate", args: "--type TYPE --mechanisms M[,M...] [--length BITS] [--id ID] [--tags T[,T...]] [--label LABEL]",
			summary: "generate a key inside the appliance and print its ID", run: cmdKeysGenerate},
		{name: "import", args: "[ID] (--pem FILE --mechanisms M[,M...] [--tags T[,T...]] | --json FILE)",
			summary: "import a private key from PEM or from the API's JSON form and print its ID", run: cmdKeysImport},
		{name: "list", args: "[--prefix PREFIX] [--filter VALUE] [--label LABEL]", summary: "list key IDs", run: cmdKeysList},
		{name: "show", args: "ID", summary: "print a key's type, mechanisms, restrictions and public part", run: cmdKeysShow},
		{name: "delete", args: "ID", summary: "delete a key", run: cmdKeysDelete},
		{name: "public-pem", args: "ID [--out FILE]", summary: "print a key's public key as PEM", run: cmdKeysPublicPEM},
		{name: "csr", args: "ID --cn NAME [subject flags] [--out FILE]", summary: "print a certificate signing request for a key", run: cmdKeysCSR},
		{name: "sign", args: "ID --mode MODE [--message-file FILE] [--out FILE]",
			summary: "sign the message (file or stdin); print the signature as base64 or write it raw to --out", run: cmdKeysSign},
		{name: "decrypt", args: "ID --mode MODE [--encrypted-file FILE] [--iv BASE64] [--out FILE]",
			summary: "decrypt data (file or stdin); print base64 or write raw to --out", run: cmdKeysDecrypt},
		{name: "encrypt", args: "ID [--mode AES_CBC] [--message-file FILE] [--iv BASE64] [--out FILE]",
			summary: "encrypt data (file or stdin) with a symmetric key", run: cmdKeysEncrypt},
	}
}

func cmdKeysGenerate(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags()
	var req client.KeyGenerateRequest
	var mechs, tags listFlag
	fs.StringVar((*string)(&req.Type), "type", "", "key `TYPE`, e.g. RSA, Curve25519, EC_P256, Generic (required)")
	fs.Var(&mechs, "mechanisms", "allowed `MECHANISMS`, comma-separated, e.g. EdDSA_Signature (required)")
	fs.IntVar(&req.Length, "length", 0, "key length in `BITS` (RSA and Generic)")
	fs.StringVar(&req.ID, "id", "", "key `ID` (default: chosen by the appliance)")
	fs.Var(&tags, "tags", "only users with one of these `TAGS` may use the key")
	fs.StringVar(&req.Label, "label", "", "key `LABEL`")
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	if req.Type == "" || len(mechs) == 0 {
		return usagef("keys generate: --type and --mechanisms are required")
	}
	req.Mechanisms, req.Restrictions = mechanisms(mechs), restrictions(tags)
	c, err := a.client(true)
	if err != nil {
		return err
	}
	id, err := c.GenerateKey(ctx, req)
	if err != nil {
		return fmt.Errorf("generate key: %w", err)
	}
	return a.emit(map[string]string{"id": id}, func(w io.Writer) { fmt.Fprintln(w, id) })
}

func cmdKeysImport(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags()
	var mechs, tags listFlag
	pemFile := fs.String("pem", "", "PEM private key `FILE`")
	jsonFile := fs.String("json", "", "`FILE` holding the key in the API's JSON import form")
	fs.Var(&mechs, "mechanisms", "allowed `MECHANISMS` for a --pem key, comma-separated")
	fs.Var(&tags, "tags", "restriction `TAGS` for a --pem key")
	pos, err := a.parse(fs, args, 0, 1)
	if err != nil {
		return err
	}
	id := ""
	if len(pos) == 1 {
		id = pos[0]
	}
	switch {
	case (*pemFile == "") == (*jsonFile == ""):
		return usagef("keys import: give exactly one of --pem FILE and --json FILE")
	case *pemFile != "" && len(mechs) == 0:
		return usagef("keys import: --pem needs --mechanisms")
	case *jsonFile != "" && (len(mechs) > 0 || len(tags) > 0):
		return usagef("keys import: --mechanisms and --tags go inside the --json file")
	case *pemFile != "":
		return a.importPEM(ctx, id, *pemFile, client.KeyImportArguments{Mechanisms: mechanisms(mechs), Restrictions: restrictions(tags)})
	default:
		return a.importJSON(ctx, id, *jsonFile)
	}
}

func (a *app) importPEM(ctx context.Context, id, file string, args client.KeyImportArguments) error {
	keyPEM, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("read key: %w", err)
	}
	c, err := a.client(true)
	if err != nil {
		return err
	}
	if id, err = c.ImportKeyPEM(ctx, id, args, keyPEM); err != nil {
		return fmt.Errorf("import key: %w", err)
	}
	return a.emit(map[string]string{"id": id}, func(w io.Writer) { fmt.Fprintln(w, id) })
}

func (a *app) importJSON(ctx context.Context, id, file string) error {
	raw, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("read key: %w", err)
	}
	var key client.PrivateKey
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields() // a misspelt field would otherwise vanish silently
	if err := dec.Decode(&key); err != nil {
		return fmt.Errorf("read key %s: %w", file, err)
	}
	c, err := a.client(true)
	if err != nil {
		return err
	}
	if id, err = c.ImportKey(ctx, id, key); err != nil {
		return fmt.Errorf("import key: %w", err)
	}
	return a.emit(map[string]string{"id": id}, func(w io.Writer) { fmt.Fprintln(w, id) })
}

func cmdKeysList(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags()
	prefix := fs.String("prefix", "", "only keys whose ID starts with `PREFIX`")
	var opts client.KeyListOptions
	fs.StringVar(&opts.Filter, "filter", "", "any `VALUE`: only keys the caller may use")
	fs.StringVar(&opts.Label, "label", "", "only keys with this `LABEL`")
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	if *prefix != "" && opts.Label != "" {
		return usagef("keys list: --prefix and --label cannot be combined")
	}
	c, err := a.client(true)
	if err != nil {
		return err
	}
	var ids []string
	if *prefix != "" {
		ids, err = c.KeysWithPrefix(ctx, *prefix, opts.Filter)
	} else {
		ids, err = c.Keys(ctx, opts)
	}
	if err != nil {
		return fmt.Errorf("list keys: %w", err)
	}
	return a.emitList(ids)
}

func cmdKeysShow(ctx context.Context, a *app, args []string) error {
	c, pos, err := a.start(args, 1, 1, true)
	if err != nil {
		return err
	}
	k, err := c.Key(ctx, pos[0])
	if err != nil {
		return fmt.Errorf("show key %s: %w", pos[0], err)
	}
	return a.emit(k, func(w io.Writer) { printKey(w, k) })
}

func printKey(w io.Writer, k client.PublicKey) {
	mechs := make([]string, len(k.Mechanisms))
	for i, m := range k.Mechanisms {
		mechs[i] = string(m)
	}
	fmt.Fprintf(w, "type:       %s\nmechanisms: %s\ntags:       %s\noperations: %d\n",
		k.Type, strings.Join(mechs, ","), strings.Join(k.Restrictions.Tags, ","), k.Operations)
	if k.Label != "" {
		fmt.Fprintf(w, "label:      %s\n", k.Label)
	}
	if k.Public == nil {
		return
	}
	b64 := base64.StdEncoding.EncodeToString
	for _, f := range []struct {
		name string
		val  []byte
	}{{"modulus", k.Public.Modulus}, {"exponent", k.Public.PublicExponent}, {"public", k.Public.Data}} {
		if len(f.val) > 0 {
			fmt.Fprintf(w, "%-11s %s\n", f.name+":", b64(f.val))
		}
	}
}

func cmdKeysDelete(ctx context.Context, a *app, args []string) error {
	c, pos, err := a.start(args, 1, 1, true)
	if err != nil {
		return err
	}
	if err := c.DeleteKey(ctx, pos[0]); err != nil {
		return fmt.Errorf("delete key %s: %w", pos[0], err)
	}
	return a.done("deleted key %s", pos[0])
}

func cmdKeysPublicPEM(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags()
	out := fs.String("out", "", "write the PEM to `FILE`")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	c, err := a.client(true)
	if err != nil {
		return err
	}
	p, err := c.KeyPublicPEM(ctx, pos[0])
	if err != nil {
		return fmt.Errorf("get public key of %s: %w", pos[0], err)
	}
	return a.emitPEM(p, *out)
}

func cmdKeysCSR(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags()
	var dnf dnFlags
	dnf.register(fs)
	out := fs.String("out", "", "write the PEM to `FILE`")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	dn, err := dnf.name(a.cmd.path)
	if err != nil {
		return err
	}
	c, err := a.client(true)
	if err != nil {
		return err
	}
	p, err := c.KeyCSR(ctx, pos[0], dn)
	if err != nil {
		return fmt.Errorf("get csr for key %s: %w", pos[0], err)
	}
	return a.emitPEM(p, *out)
}
