package e2e

import (
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/appliance/apptest"
	"github.com/keywarden/keywarden/rot"
	"github.com/keywarden/keywarden/rot/tpm"
	"github.com/keywarden/keywarden/rot/tpm/tpmtest"
)

// TestTPMRootOfTrust runs the appliance on a real (software) TPM: swtpm,
// started by the test, sealing to PCR 16 so the test can change it.
func TestTPMRootOfTrust(t *testing.T) {
	device := tpmtest.Start(t)
	d := apptest.Start(t, apptest.Options{Args: []string{"--rot", "tpm", "--tpm-device", device, "--tpm-pcrs", "16"}})
	ctx := apptest.Context(t)
	admin, op, sc := withSigningKey(t, d, signCases()[0])

	info, err := admin.SystemInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.AKPub["P256"] == "" || info.PCR["16"] == "" || info.DeviceID == "" {
		t.Errorf("system info on a TPM: got akPub %v, pcr %v, deviceId %q; want the identity key, PCR 16 and a device id", info.AKPub, info.PCR, info.DeviceID)
	}

	restartUnlockThenUnattended(t, d, admin, op, sc, nil)

	// The boot chain "changes": PCR 16 is extended while the appliance is off.
	d.Stop()
	sum := sha256.Sum256([]byte("a different bootloader"))
	tpmtest.ExtendPCR(t, device, 16, sum[:])
	d.Restart()
	waitState(t, d, "Failed")
	if reason := stateReason(t, d); !strings.Contains(reason, "PCR 16") {
		t.Errorf("reason after PCR 16 changed: got %q, want it to name PCR 16", reason)
	}
	d.Stop()
	assertNoSecrets(t, d, unlockPass, adminPass, operatorPass)

	// Factory reset from Failed (authenticated by the unlock passphrase)
	// destroys the TPM storage key, so the old sealed device key is dead even
	// to someone holding a copy of the disk.
	oldBlob, err := os.ReadFile(filepath.Join(d.DataDir, "device-key.sealed"))
	if err != nil {
		t.Fatal(err)
	}
	d.Restart()
	waitState(t, d, "Failed")
	if err := d.Client("admin", unlockPass).FactoryReset(apptest.Context(t)); err != nil {
		t.Fatalf("factory reset in Failed: %v", err)
	}
	waitState(t, d, "Unprovisioned")
	d.Stop()
	r, err := tpm.Open(apptest.Context(t), tpm.Config{Device: device, PCRs: []int{16}, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Unseal(apptest.Context(t), oldBlob); !errors.Is(err, rot.ErrWrongDevice) {
		t.Errorf("unsealing the pre-reset device key: got %v, want rot.ErrWrongDevice (storage key destroyed)", err)
	}
}
