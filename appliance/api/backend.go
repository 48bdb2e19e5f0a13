package api

import (
	"context"
	"io"
	"time"

	"github.com/keywarden/keywarden/appliance/keystore"
	"github.com/keywarden/keywarden/appliance/logfwd"
	"github.com/keywarden/keywarden/appliance/tlsconf"
	"github.com/keywarden/keywarden/appliance/users"
	"github.com/keywarden/keywarden/netcfg"
	"github.com/keywarden/keywarden/netcfg/timesync"
)

// State is the appliance state, with the reference API's values.
type State string

// The appliance states.
const (
	Unprovisioned State = "Unprovisioned"
	Locked        State = "Locked"
	Operational   State = "Operational"
	Failed        State = "Failed"
)

// Session is what an Operational appliance serves from: the stores opened with
// the domain key. It is nil in every other state.
type Session struct {
	Users *users.Directory
	Keys  *keystore.Store
	// Sync, when set, brings the caches of Users and Keys up to date with
	// every write committed anywhere in the cluster before it was called.
	// The server calls it once per authenticated request, before either
	// cache is used, so that a key or user deleted on another node cannot be
	// used here afterwards. Lone appliances leave it nil: their own writes
	// update the caches directly.
	Sync func(ctx context.Context) error
}

// Backend is what the API needs from the appliance. The appliance package
// implements it; the API owns the contract.
type Backend interface {
	// State returns the current state and, for Failed or a refused unattended
	// boot, the reason.
	State() (State, string)
	// Session returns the open session, or nil when not Operational.
	Session() *Session

	Provision(ctx context.Context, unlockPassphrase, adminPassphrase string, systemTime time.Time) error
	Unlock(ctx context.Context, passphrase string) error
	Lock(ctx context.Context) error
	// VerifyUnlockPassphrase authenticates destructive actions while the
	// appliance is Locked or Failed, when users cannot be read.
	VerifyUnlockPassphrase(ctx context.Context, passphrase string) error

	SetUnlockPassphrase(ctx context.Context, current, next string) error
	SetBackupPassphrase(ctx context.Context, current, next string) error
	UnattendedBoot(ctx context.Context) (bool, error)
	SetUnattendedBoot(ctx context.Context, on bool) error

	// Backup streams the backup of the cluster's data into w; errors
	// before the first write are refusals, later ones leave w truncated.
	Backup(ctx context.Context, w io.Writer) error
	// SpoolBackup keeps an uploaded backup for Restore, which reads it
	// twice; closing the result discards it.
	SpoolBackup(ctx context.Context, r io.Reader) (io.ReadSeekCloser, error)
	// Restore restores from a spooled backup: fully on an Unprovisioned
	// appliance, users, namespaces and keys on an Operational one.
	Restore(ctx context.Context, args RestoreArgs, file io.ReadSeeker) error

	// ClusterMembers lists the members of the store cluster.
	ClusterMembers(ctx context.Context) ([]ClusterMember, error)
	// ClusterCA returns the cluster CA certificate (PEM); errors wrap
	// ErrNotFound when none was ever set.
	ClusterCA(ctx context.Context) ([]byte, error)
	// SetClusterCA installs the CA that signs cluster members' certificates.
	SetClusterCA(ctx context.Context, pemCert []byte) error
	// AddClusterMember registers a learner at urls and returns the joiner
	// kit for it.
	AddClusterMember(ctx context.Context, urls []string) (ClusterMemberAdded, error)
	// JoinCluster replaces this node's store with membership in the cluster
	// that registered it.
	JoinCluster(ctx context.Context, req ClusterJoin) error
	PromoteClusterMember(ctx context.Context, id string) error
	UpdateClusterMember(ctx context.Context, id string, urls []string) error
	RemoveClusterMember(ctx context.Context, id string) error
	// ForceNewCluster restarts a Failed member's store as a cluster of one.
	ForceNewCluster(ctx context.Context) error
	// GenerateClusterCA creates a cluster CA whose key the cluster holds,
	// re-certifies this node with it and returns the CA certificate (PEM).
	GenerateClusterCA(ctx context.Context) ([]byte, error)
	// SignPeerCSR certifies a node's key for its peers with the cluster's own
	// CA and returns the chain (PEM).
	SignPeerCSR(ctx context.Context, csrPEM []byte, ips, dnsNames []string) ([]byte, error)
	// ClusterStatus reports every member's state as this node sees it.
	ClusterStatus(ctx context.Context) (ClusterStatus, error)

	TLS() *tlsconf.Identity
	GenerateTLS(ctx context.Context, keyType string, bits int) error
	SetTLSCertificate(ctx context.Context, pemChain []byte) error

	// Logging returns the log forwarding configuration (node-local).
	Logging(ctx context.Context) (logfwd.Config, error)
	// SetLogging validates, stores and applies a log forwarding configuration.
	SetLogging(ctx context.Context, c logfwd.Config) error

	// Network returns the network configuration in force.
	Network(ctx context.Context) (netcfg.Config, error)
	// SetNetwork applies and stores a network configuration.
	SetNetwork(ctx context.Context, c netcfg.Config) error
	// TryNetwork applies c until the deadline unless ConfirmNetwork(id).
	TryNetwork(ctx context.Context, c netcfg.Config, timeout time.Duration) (id string, deadline time.Time, err error)
	ConfirmNetwork(ctx context.Context, id string) error

	// NTP returns the NTP configuration and the last sync (node-local).
	NTP(ctx context.Context) (NTPState, error)
	// SetNTP validates, stores and applies an NTP configuration.
	SetNTP(ctx context.Context, c timesync.Config) error

	Now() time.Time
	SetTime(ctx context.Context, t time.Time) error

	// MixEntropy mixes the root of trust's random generator, if it has one,
	// into the OS pool before a key is generated.
	MixEntropy(ctx context.Context)

	SystemInfo(ctx context.Context) SystemInfo
	Diagnose() Diagnosis
	Metrics() map[string]any

	Reboot(ctx context.Context) error
	Shutdown(ctx context.Context) error
	FactoryReset(ctx context.Context) error
}

// SystemInfo is the body of GET /system/info. RootOfTrust is a Keywarden
// extension naming the root of trust, so a development build cannot pass for
// a protected one.
type SystemInfo struct {
	SoftwareVersion string            `json:"softwareVersion"`
	SoftwareBuild   string            `json:"softwareBuild"`
	FirmwareVersion string            `json:"firmwareVersion"`
	HardwareVersion string            `json:"hardwareVersion"`
	DeviceID        string            `json:"deviceId"`
	AkPub           map[string]string `json:"akPub"`
	PCR             map[string]string `json:"pcr"`
	RootOfTrust     RootOfTrustInfo   `json:"rootOfTrust"`
}

// ClusterMember is one member of the store cluster, as GET /cluster/members
// shows it. Lone appliances have one member without peer URLs.
type ClusterMember struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	URLs    []string `json:"urls"`
	Learner bool     `json:"learner"`
}

// ClusterStatus is the body of GET /cluster/status, a Keywarden extension.
type ClusterStatus struct {
	Self    string                `json:"self"`             // this node's member ID
	Leader  string                `json:"leader,omitempty"` // empty when this member knows no leader
	Members []ClusterMemberStatus `json:"members"`
	// ClockSkewAlarm names the members whose clocks differ from the others'
	// by more than 500 ms (empty when they agree).
	ClockSkewAlarm []string `json:"clockSkewAlarm"`
}

// ClusterMemberStatus is one member in ClusterStatus.
type ClusterMemberStatus struct {
	ClusterMember
	// State is ready, joining, down or unknown.
	State string `json:"state"`
	// Stage, while joining: creating, bootstrapping, catching up,
	// completing.
	Stage string `json:"stage,omitempty"`
	// ApplianceState is the member's appliance state from its last
	// heartbeat (witnesses have none).
	ApplianceState string `json:"applianceState,omitempty"`
	// RaftIndexLag is how many committed raft entries the member had yet to
	// apply at its last heartbeat, against the leader's.
	RaftIndexLag *uint64 `json:"raftIndexLag,omitempty"`
	// ClockOffsetMs is the member's clock minus this node's, estimated from
	// its last heartbeat (to within the replication delay).
	ClockOffsetMs *int64 `json:"clockOffsetMs,omitempty"`
	// NTPSynced and NTPOffsetMs are the member's own NTP state from its last
	// heartbeat: whether its last sync succeeded, and the correction.
	NTPSynced   *bool    `json:"ntpSynced,omitempty"`
	NTPOffsetMs *float64 `json:"ntpOffsetMs,omitempty"`
	// LastHeartbeatMs is how long ago the last heartbeat arrived.
	LastHeartbeatMs int64 `json:"lastHeartbeatMs,omitempty"`
}

// NTPState is the body of GET /config/ntp (a Keywarden extension): the
// configuration and what the last sync found.
type NTPState struct {
	Servers []string  `json:"servers"`
	Enabled bool      `json:"enabled"`
	Status  NTPStatus `json:"status"`
}

// NTPStatus is the outcome of the last sync and how the clock is kept.
type NTPStatus struct {
	Synced   bool    `json:"synced"`
	OffsetMs float64 `json:"offsetMs"` // the last correction
	LastSync string  `json:"lastSync,omitempty"`
	// Mode is "system" (the host clock is set) or "offset" (a node-local
	// offset from it), with the reason.
	Mode       string            `json:"mode"`
	ModeReason string            `json:"modeReason"`
	Error      string            `json:"error,omitempty"`
	Servers    []NTPServerStatus `json:"servers"`
}

// NTPServerStatus is one server's answer in the last sync.
type NTPServerStatus struct {
	Server   string  `json:"server"`
	OffsetMs float64 `json:"offsetMs"`
	RTTMs    float64 `json:"rttMs"`
	Stratum  uint8   `json:"stratum"`
	Outlier  bool    `json:"outlier"`
	Error    string  `json:"error,omitempty"`
}

// Diagnosis is the body of GET /health/diagnose: the local store member's
// recent warnings and whether it runs.
type Diagnosis struct {
	ClusterLogs  []ClusterLog `json:"clusterLogs"`
	ClusterState struct {
		Running bool `json:"running"`
	} `json:"clusterState"`
}

// ClusterLog is one warning or error of the local store member.
type ClusterLog struct {
	Level string `json:"level"`
	Msg   string `json:"msg"`
}

// RootOfTrustInfo describes the root of trust in /system/info.
type RootOfTrustInfo struct {
	Kind            string `json:"kind"`
	DevelopmentOnly bool   `json:"developmentOnly"`
	Detail          string `json:"detail,omitempty"`
}
