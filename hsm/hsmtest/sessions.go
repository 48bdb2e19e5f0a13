//go:build cgo

package hsmtest

import (
	"errors"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"
)

const cgoEnabled = true

// Sessions counts the sessions this process has open on the token labelled
// label, asking the library itself rather than the code under test, so leak
// checks can fail. SoftHSM2 reports no session count in C_GetTokenInfo, so
// Sessions probes every session handle below a fresh one (SoftHSM2 numbers
// handles sequentially); it is SoftHSM2-specific. The library must already be
// initialised by an open hsm.Module: Sessions never initialises or
// finalises it.
func Sessions(t testing.TB, module, label string) int {
	t.Helper()
	ctx := pkcs11.New(module)
	if ctx == nil {
		t.Fatalf("hsmtest: cannot load %s", module)
	}
	defer ctx.Destroy() // unloads this handle only; the library stays initialised
	var p11 pkcs11.Error
	if err := ctx.Initialize(); err == nil {
		_ = ctx.Finalize()
		t.Fatal("hsmtest: Sessions needs an open hsm.Module on the library")
	} else if !errors.As(err, &p11) || p11 != pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED {
		t.Fatalf("hsmtest: C_Initialize: %v", err)
	}
	slot := findSlot(t, ctx, label)
	probe, err := ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION)
	if err != nil {
		t.Fatalf("hsmtest: open probe session: %v", err)
	}
	defer ctx.CloseSession(probe)
	n := 0
	for h := pkcs11.SessionHandle(1); h < probe; h++ {
		if info, err := ctx.GetSessionInfo(h); err == nil && info.SlotID == slot {
			n++
		}
	}
	return n
}

func findSlot(t testing.TB, ctx *pkcs11.Ctx, label string) uint {
	t.Helper()
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		t.Fatalf("hsmtest: list slots: %v", err)
	}
	for _, s := range slots {
		if info, err := ctx.GetTokenInfo(s); err == nil && strings.TrimRight(info.Label, " ") == label {
			return s
		}
	}
	t.Fatalf("hsmtest: no token labelled %q", label)
	return 0
}
