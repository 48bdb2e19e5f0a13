package cluster

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

func TestCheckPeerURL(t *testing.T) {
	tests := []struct {
		url, scheme string
		wantOK      bool
	}{
		{"https://10.0.0.2:2380", "https", true},
		{"https://[fd00::2]:2380", "https", true},
		{"http://10.0.0.2:2380", "http", true},
		{"http://10.0.0.2:2380", "https", false},
		{"https://10.0.0.2:2380/", "https", false},
		{"https://10.0.0.2:2380?x=1", "https", false},
		{"https://u@10.0.0.2:2380", "https", false},
		{"https://node2:2380", "https", false},
		{"https://10.0.0.2", "https", false},
		{"https://0.0.0.0:2380", "https", false},
		{"https://10.0.0.2:0", "https", false},
		{"10.0.0.2:2380", "https", false},
		{"", "https", false},
	}
	for _, tt := range tests {
		t.Run(tt.url+" as "+tt.scheme, func(t *testing.T) {
			err := checkPeerURL(tt.url, tt.scheme)
			if (err == nil) != tt.wantOK {
				t.Fatalf("got error %v, want ok %v", err, tt.wantOK)
			}
			if err != nil && !errors.Is(err, ErrInvalidPeerURL) {
				t.Errorf("got %v, want it to wrap ErrInvalidPeerURL", err)
			}
		})
	}
}

// membersOf returns voters voting members (IDs 1..) followed by learners.
func membersOf(voters, learners int) []MemberInfo {
	var out []MemberInfo
	for i := range voters + learners {
		out = append(out, MemberInfo{ID: uint64(i + 1), IsLearner: i >= voters})
	}
	return out
}

func TestCanAddLearner(t *testing.T) {
	tests := []struct {
		voters, learners int
		want             error
	}{
		{1, 0, nil},
		{MaxVoters - 1, 0, nil},
		{MaxVoters, 0, ErrTooManyVoters},
		{2, 1, ErrLearnerPending},
		{MaxVoters, 1, ErrLearnerPending},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d voters %d learners", tt.voters, tt.learners), func(t *testing.T) {
			if err := canAddLearner(membersOf(tt.voters, tt.learners)); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCanPromote(t *testing.T) {
	tests := []struct {
		name             string
		voters, learners int
		id               uint64
		want             error
	}{
		{"learner", 2, 1, 3, nil},
		{"seventh voter", MaxVoters - 1, 1, MaxVoters, nil},
		{"eighth voter", MaxVoters, 1, MaxVoters + 1, ErrTooManyVoters},
		{"voter", 2, 1, 1, ErrNotLearner},
		{"unknown", 2, 1, 9, ErrMemberNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := canPromote(membersOf(tt.voters, tt.learners), tt.id); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestMemberID(t *testing.T) {
	tests := []struct {
		text   string
		id     uint64
		wantOK bool
	}{
		{"8e9e05c52164694d", 0x8e9e05c52164694d, true},
		{"a1d7e7a43279d88", 0xa1d7e7a43279d88, true},
		{"1", 1, true},
		{"0", 0, false},
		{"", 0, false},
		{"8E9E05C52164694D", 0x8e9e05c52164694d, true},
		{"18e9e05c52164694d", 0, false},
		{"node-1", 0, false},
		{"+1", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			id, err := ParseMemberID(tt.text)
			if (err == nil) != tt.wantOK || id != tt.id {
				t.Fatalf("ParseMemberID: got %x, %v, want %x, ok %v", id, err, tt.id, tt.wantOK)
			}
			if err != nil && !errors.Is(err, ErrMemberNotFound) {
				t.Errorf("got %v, want it to wrap ErrMemberNotFound", err)
			}
			if tt.wantOK {
				if back, _ := ParseMemberID(FormatMemberID(id)); back != id {
					t.Errorf("round trip: got %x, want %x", back, id)
				}
			}
		})
	}
}

func TestInitialClusterFor(t *testing.T) {
	members := []MemberInfo{
		{ID: 0x1, Name: "node-1", PeerURLs: []string{"https://10.0.0.1:2380"}},
		{ID: 0x2, Name: "", PeerURLs: []string{"https://10.0.0.2:2380"}, IsLearner: true},
		{ID: 0x3, Name: "", PeerURLs: []string{"https://10.0.0.3:2380"}},
	}
	got, err := InitialClusterFor(members, 0x2, "node-2")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"node-1":   {"https://10.0.0.1:2380"},
		"node-2":   {"https://10.0.0.2:2380"},
		"member-3": {"https://10.0.0.3:2380"},
	}
	if !maps.EqualFunc(got, want, func(a, b []string) bool { return fmt.Sprint(a) == fmt.Sprint(b) }) {
		t.Errorf("got %v, want %v", got, want)
	}
	if _, err := InitialClusterFor(members, 0x9, "node-9"); !errors.Is(err, ErrMemberNotFound) {
		t.Errorf("unknown joiner: got %v, want ErrMemberNotFound", err)
	}
	if _, err := InitialClusterFor(members, 0x2, "node-1"); err == nil {
		t.Error("joiner name taken: got no error, want one")
	}
}

func TestMembershipError(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithTimeout(context.Background(), 0)
	defer cancel2()
	tests := []struct {
		name   string
		parent context.Context
		err    error
		want   error
	}{
		{"not found", context.Background(), rpctypes.ErrMemberNotFound, ErrMemberNotFound},
		{"not a learner", context.Background(), rpctypes.ErrMemberNotLearner, ErrNotLearner},
		{"learner not ready at the deadline", expired, rpctypes.ErrMemberLearnerNotReady, ErrLearnerNotReady},
		{"too many learners", context.Background(), rpctypes.ErrTooManyLearners, ErrLearnerPending},
		{"peer URL exists", context.Background(), rpctypes.ErrPeerURLExist, ErrPeerURLInUse},
		{"bad URLs", context.Background(), rpctypes.ErrMemberBadURLs, ErrInvalidPeerURL},
		{"unhealthy", context.Background(), rpctypes.ErrUnhealthy, ErrUnavailable},
		{"not enough started", context.Background(), rpctypes.ErrMemberNotEnoughStarted, ErrUnavailable},
		{"no leader", context.Background(), rpctypes.ErrNoLeader, ErrUnavailable},
		{"caller cancelled", cancelled, rpctypes.ErrMemberLearnerNotReady, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := membershipError(tt.parent, "op", tt.err); !errors.Is(got, tt.want) {
				t.Errorf("got %v, want it to wrap %v", got, tt.want)
			}
		})
	}
}
