//go:build !cgo

package hsmtest

import "testing"

const cgoEnabled = false

// Sessions skips the test: without cgo no PKCS#11 library can be loaded.
func Sessions(t testing.TB, module, label string) int {
	t.Skip("built without cgo: cannot count PKCS#11 sessions")
	return 0
}
