package timesync

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// DefaultSkewThreshold is how far the clocks of a cluster's members may
// differ before SkewAlarm raises an alarm and CheckJoinSkew refuses a join.
// Certificates, TOTP windows and audit timestamps tolerate half a second.
const DefaultSkewThreshold = 500 * time.Millisecond

// SkewAlarm returns, sorted, the members whose clocks are off: offsets maps
// every member, this node included, to its clock minus one common reference
// (this node's clock, so this node maps to 0). A threshold of zero or less
// means DefaultSkewThreshold.
//
// When every pair of clocks agrees to within threshold, nothing is off. When
// some pair does not, the members more than threshold/2 from the median are
// off: the rest then still agree pairwise, and at least one member is named.
// A lone member far from the others is named alone; of two members that
// disagree both are named, as neither can be shown wrong.
func SkewAlarm(offsets map[string]time.Duration, threshold time.Duration) []string {
	if threshold <= 0 {
		threshold = DefaultSkewThreshold
	}
	values := slices.Collect(maps.Values(offsets))
	if len(values) == 0 || slices.Max(values)-slices.Min(values) <= threshold {
		return nil
	}
	med := median(values)
	var off []string
	for _, id := range slices.Sorted(maps.Keys(offsets)) {
		if (offsets[id] - med).Abs() > threshold/2 {
			off = append(off, id)
		}
	}
	return off
}

// CheckJoinSkew decides whether this node may join a cluster: offsets maps
// each member to its clock minus this node's. It fails with ErrClockSkew,
// naming every member whose clock differs by more than threshold, because a
// member with a clock that far off would raise SkewAlarm the moment it
// joined. A threshold of zero or less means DefaultSkewThreshold.
func CheckJoinSkew(offsets map[string]time.Duration, threshold time.Duration) error {
	if threshold <= 0 {
		threshold = DefaultSkewThreshold
	}
	var far []string
	for _, id := range slices.Sorted(maps.Keys(offsets)) {
		if d := offsets[id]; d.Abs() > threshold {
			far = append(far, fmt.Sprintf("%s by %v", id, d.Round(time.Millisecond)))
		}
	}
	if len(far) > 0 {
		return fmt.Errorf("%w: this node's clock differs from member %s, more than %v; sync the clocks first",
			ErrClockSkew, strings.Join(far, ", member "), threshold)
	}
	return nil
}
