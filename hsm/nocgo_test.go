//go:build !cgo

package hsm

import (
	"context"
	"errors"
	"testing"
)

func TestOpenWithoutCgo(t *testing.T) {
	_, err := Open(context.Background(), Config{Module: "/x.so", TokenLabel: "t", PIN: []byte("1")})
	if !errors.Is(err, ErrNoCgo) || err.Error() != "hsm: built without cgo: PKCS#11 unavailable" {
		t.Errorf("Open without cgo: got %v, want ErrNoCgo", err)
	}
}
