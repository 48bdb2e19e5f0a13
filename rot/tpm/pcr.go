package tpm

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"slices"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// DefaultPCRs is the sealing policy when Config.PCRs is empty: PCR 7 holds
// the Secure Boot policy (which keys may sign the boot chain), so it changes
// when the firmware's trust configuration changes but not on every update of
// the signed kernel.
var DefaultPCRs = []int{7}

// numPCRs is the PCR count every PC Client TPM implements.
const numPCRs = 24

// pcrSize is the size of a SHA-256 PCR, the only bank this package uses.
const pcrSize = sha256.Size

// checkPCRs returns a sorted copy of pcrs, or an error naming every index
// that is out of range or repeated.
func checkPCRs(pcrs []int) ([]int, error) {
	if len(pcrs) == 0 {
		return slices.Clone(DefaultPCRs), nil
	}
	sorted := slices.Clone(pcrs)
	slices.Sort(sorted)
	for i, p := range sorted {
		if p < 0 || p >= numPCRs {
			return nil, fmt.Errorf("tpm: PCR %d out of range 0-%d", p, numPCRs-1)
		}
		if i > 0 && sorted[i-1] == p {
			return nil, fmt.Errorf("tpm: PCR %d listed twice", p)
		}
	}
	return sorted, nil
}

// selection is the TPM form of a list of SHA-256 PCR indices.
func selection(pcrs []int) tpm2.TPMLPCRSelection {
	idx := make([]uint, len(pcrs))
	for i, p := range pcrs {
		idx[i] = uint(p)
	}
	return tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{{
		Hash:      tpm2.TPMAlgSHA256,
		PCRSelect: tpm2.PCClientCompatible.PCRs(idx...),
	}}}
}

// readPCRs returns the SHA-256 values of pcrs, in the order given. The TPM
// returns at most eight values per PCR_Read, so it asks until all arrived.
func readPCRs(tr transport.TPM, pcrs []int) ([][]byte, error) {
	values := make(map[int][]byte, len(pcrs))
	for missing := pcrs; len(missing) > 0; missing = without(missing, values) {
		rsp, err := tpm2.PCRRead{PCRSelectionIn: selection(missing)}.Execute(tr)
		if err != nil {
			return nil, fmt.Errorf("read PCRs %v: %w", missing, err)
		}
		got := selected(rsp.PCRSelectionOut)
		if len(got) == 0 || len(got) != len(rsp.PCRValues.Digests) {
			return nil, fmt.Errorf("read PCRs %v: the TPM has no active SHA-256 bank for them", missing)
		}
		for i, p := range got {
			values[p] = rsp.PCRValues.Digests[i].Buffer
		}
	}
	out := make([][]byte, len(pcrs))
	for i, p := range pcrs {
		if len(values[p]) != pcrSize {
			return nil, fmt.Errorf("read PCR %d: %d bytes, want %d", p, len(values[p]), pcrSize)
		}
		out[i] = values[p]
	}
	return out, nil
}

// selected lists, in increasing order, the SHA-256 PCRs a selection names.
func selected(sel tpm2.TPMLPCRSelection) []int {
	var pcrs []int
	for _, s := range sel.PCRSelections {
		if s.Hash != tpm2.TPMAlgSHA256 {
			continue
		}
		for i, b := range s.PCRSelect {
			for bit := range 8 {
				if b&(1<<bit) != 0 {
					pcrs = append(pcrs, i*8+bit)
				}
			}
		}
	}
	return pcrs
}

func without(pcrs []int, have map[int][]byte) []int {
	var rest []int
	for _, p := range pcrs {
		if _, ok := have[p]; !ok {
			rest = append(rest, p)
		}
	}
	return rest
}

// pcrDigest is what TPM2_PolicyPCR compares: the hash of the concatenated
// values, in increasing PCR order.
func pcrDigest(values [][]byte) []byte {
	h := sha256.New()
	for _, v := range values {
		h.Write(v)
	}
	return h.Sum(nil)
}

// policyDigest is the authPolicy of an object sealed to pcrs having values:
// TPM2_PolicyPCR, followed for an empty secret by
// TPM2_PolicyCommandCode(TPM2_CC_Unseal), which restricts nothing Keywarden
// does but makes the empty mark part of the policy (see flagEmpty). It is
// computed in software so that Unseal can check a blob's header against the
// object's policy without asking the TPM.
func policyDigest(pcrs []int, values [][]byte, empty bool) ([]byte, error) {
	calc, err := tpm2.NewPolicyCalculator(tpm2.TPMAlgSHA256)
	if err != nil {
		return nil, err
	}
	pcr := tpm2.PolicyPCR{PcrDigest: tpm2.TPM2BDigest{Buffer: pcrDigest(values)}, Pcrs: selection(pcrs)}
	if err := pcr.Update(calc); err != nil {
		return nil, err
	}
	if empty {
		if err := (tpm2.PolicyCommandCode{Code: tpm2.TPMCCUnseal}).Update(calc); err != nil {
			return nil, err
		}
	}
	return calc.Hash().Digest, nil
}

// changedPCRs lists the PCRs whose current value differs from sealed.
func changedPCRs(pcrs []int, sealed, current [][]byte) []int {
	var changed []int
	for i, p := range pcrs {
		if !bytes.Equal(sealed[i], current[i]) {
			changed = append(changed, p)
		}
	}
	return changed
}
