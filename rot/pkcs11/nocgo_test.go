//go:build !cgo

package pkcs11_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/rot"
	"github.com/keywarden/keywarden/rot/pkcs11"
)

func TestOpenWithoutCgo(t *testing.T) {
	cfg := pkcs11.Config{Module: "/x.so", TokenLabel: "t", PINFile: writePIN(t, "1234")}
	_, err := pkcs11.Open(context.Background(), cfg)
	if !errors.Is(err, rot.ErrUnavailable) || !strings.Contains(err.Error(), "without cgo") {
		t.Errorf("Open without cgo: got %v, want rot.ErrUnavailable saying why", err)
	}
}
