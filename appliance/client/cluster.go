package client

import (
	"context"
	"net/http"
	"net/url"
)

// ClusterMember is one member of the appliance's store cluster.
type ClusterMember struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	URLs    []string `json:"urls"`
	Learner bool     `json:"learner"`
}

// ClusterMemberAdded is the answer of AddClusterMember: pass it to
// JoinCluster on the new node, with the cluster's backup passphrase.
type ClusterMemberAdded struct {
	Members   []ClusterMember `json:"members"`
	JoinerKit string          `json:"joinerKit"`
}

// ClusterJoinRequest is the body of JoinCluster.
type ClusterJoinRequest struct {
	Members          []ClusterMember `json:"members"`
	JoinerKit        string          `json:"joinerKit"`
	BackupPassphrase string          `json:"backupPassphrase"`
}

type clusterPeerURLs struct {
	URLs []string `json:"urls"`
}

// ClusterMembers lists the members of the cluster.
func (c *Client) ClusterMembers(ctx context.Context) ([]ClusterMember, error) {
	var out []ClusterMember
	return out, c.doJSON(ctx, http.MethodGet, "/cluster/members", nil, nil, &out)
}

// AddClusterMember registers a new member reachable at urls as a learner.
func (c *Client) AddClusterMember(ctx context.Context, urls []string) (ClusterMemberAdded, error) {
	var out ClusterMemberAdded
	return out, c.doJSON(ctx, http.MethodPost, "/cluster/members", nil, clusterPeerURLs{URLs: urls}, &out)
}

// JoinCluster makes this node join the cluster that registered it. Its own
// keys, users and clustered configuration are replaced by the cluster's.
func (c *Client) JoinCluster(ctx context.Context, req ClusterJoinRequest) error {
	return c.doJSON(ctx, http.MethodPost, "/cluster/join", nil, req, nil)
}

// PromoteClusterMember makes a learner a voting member.
func (c *Client) PromoteClusterMember(ctx context.Context, id string) error {
	return c.doJSON(ctx, http.MethodPost, "/cluster/members/"+url.PathEscape(id)+"/promote", nil, nil, nil)
}

// UpdateClusterMember replaces a member's peer URLs.
func (c *Client) UpdateClusterMember(ctx context.Context, id string, urls []string) error {
	return c.doJSON(ctx, http.MethodPut, "/cluster/members/"+url.PathEscape(id), nil, clusterPeerURLs{URLs: urls}, nil)
}

// RemoveClusterMember removes a member from the cluster for good.
func (c *Client) RemoveClusterMember(ctx context.Context, id string) error {
	return c.doJSON(ctx, http.MethodDelete, "/cluster/members/"+url.PathEscape(id), nil, nil, nil)
}

// ForceNewCluster restarts a Failed member's store as a cluster of one.
func (c *Client) ForceNewCluster(ctx context.Context) error {
	return c.doJSON(ctx, http.MethodPost, "/cluster/force-new", nil, nil, nil)
}

// ClusterCA returns the cluster CA certificate (PEM).
func (c *Client) ClusterCA(ctx context.Context) ([]byte, error) {
	return c.doRaw(ctx, request{method: http.MethodGet, path: "/config/tls/cluster-ca.pem", accept: mimePEM})
}

// SetClusterCA installs the cluster CA certificate (PEM).
func (c *Client) SetClusterCA(ctx context.Context, caPEM []byte) error {
	_, err := c.doRaw(ctx, request{method: http.MethodPut, path: "/config/tls/cluster-ca.pem",
		contentType: mimePEM, body: nonNil(caPEM), accept: mimeJSON})
	return err
}

// ClusterStatus is the answer of ClusterStatus (a Keywarden extension).
type ClusterStatus struct {
	Self    string                `json:"self"`
	Leader  string                `json:"leader,omitempty"`
	Members []ClusterMemberStatus `json:"members"`
	// ClockSkewAlarm names members whose clocks are off (empty when none).
	ClockSkewAlarm []string `json:"clockSkewAlarm"`
}

// ClusterMemberStatus is one member's state: ready, joining (with Stage),
// down or unknown.
type ClusterMemberStatus struct {
	ClusterMember
	State           string   `json:"state"`
	Stage           string   `json:"stage,omitempty"`
	ApplianceState  string   `json:"applianceState,omitempty"`
	RaftIndexLag    *uint64  `json:"raftIndexLag,omitempty"`
	ClockOffsetMs   *int64   `json:"clockOffsetMs,omitempty"`
	NTPSynced       *bool    `json:"ntpSynced,omitempty"`
	NTPOffsetMs     *float64 `json:"ntpOffsetMs,omitempty"`
	LastHeartbeatMs int64    `json:"lastHeartbeatMs,omitempty"`
}

// ClusterStatus reports every member's state as the node sees it.
func (c *Client) ClusterStatus(ctx context.Context) (ClusterStatus, error) {
	var out ClusterStatus
	return out, c.doJSON(ctx, http.MethodGet, "/cluster/status", nil, nil, &out)
}

// ClusterSignRequest is the body of SignPeerCSR.
type ClusterSignRequest struct {
	CSR         string   `json:"csr"`
	IPAddresses []string `json:"ipAddresses"`
	DNSNames    []string `json:"dnsNames,omitempty"`
}

// GenerateClusterCA creates a cluster CA whose key the cluster holds,
// re-certifies the node with it, and returns the CA certificate (PEM).
func (c *Client) GenerateClusterCA(ctx context.Context) ([]byte, error) {
	return c.doRaw(ctx, request{method: http.MethodPost, path: "/cluster/ca/generate", accept: mimePEM})
}

// SignPeerCSR has the cluster's own CA certify a node's key for its peers;
// it returns the chain (PEM) to install on that node.
func (c *Client) SignPeerCSR(ctx context.Context, req ClusterSignRequest) ([]byte, error) {
	return c.pemForJSON(ctx, "/cluster/ca/sign", req)
}
