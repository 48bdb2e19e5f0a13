package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// maxInput bounds data read from a file or stdin; the API takes far less.
const maxInput = 16 << 20

// emit prints v as indented JSON with --json, else calls human.
func (a *app) emit(v any, human func(w io.Writer)) error {
	if !a.g.json {
		human(a.stdout)
		return nil
	}
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// done confirms an action that has no answer; --json output stays empty so
// scripts only ever see answers.
func (a *app) done(format string, args ...any) error {
	if !a.g.json {
		fmt.Fprintf(a.stdout, format+"\n", args...)
	}
	return nil
}

// emitBytes writes binary data raw to out when given, else prints it as
// base64, alone or as the JSON field name.
func (a *app) emitBytes(name string, b []byte, out string) error {
	if out != "" {
		return writeFile(out, b)
	}
	s := base64.StdEncoding.EncodeToString(b)
	return a.emit(map[string]string{name: s}, func(w io.Writer) { fmt.Fprintln(w, s) })
}

// emitPEM writes PEM text to out when given, else prints it, or with --json
// as the field "pem".
func (a *app) emitPEM(b []byte, out string) error {
	if out != "" {
		return writeFile(out, b)
	}
	return a.emit(map[string]string{"pem": string(b)}, func(w io.Writer) { _, _ = w.Write(b) })
}

// writeFile creates out readable by its owner only: what kwctl writes may
// be decrypted data.
func writeFile(out string, b []byte) error {
	if err := os.WriteFile(out, b, 0o600); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// readInput reads file, or stdin when file is empty or "-".
func (a *app) readInput(file string) ([]byte, error) {
	r := a.stdin
	if file != "" && file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("read input: %w", err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxInput+1))
	if err != nil {
		return nil, fmt.Errorf("read input: %w", err)
	}
	if len(b) > maxInput {
		return nil, fmt.Errorf("read input: larger than %d bytes", maxInput)
	}
	return b, nil
}

// emitList prints one item per line, or a JSON array (never null).
func (a *app) emitList(items []string) error {
	if items == nil {
		items = []string{}
	}
	return a.emit(items, func(w io.Writer) {
		for _, it := range items {
			fmt.Fprintln(w, it)
		}
	})
}
