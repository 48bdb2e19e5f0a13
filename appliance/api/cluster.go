package api

import (
	"fmt"
	"net/http"
)

// ClusterMemberAdded is the body of POST /cluster/members: every member, the
// new learner included, and the joiner kit to hand to the new node.
type ClusterMemberAdded struct {
	Members   []ClusterMember `json:"members"`
	JoinerKit string          `json:"joinerKit"`
}

// ClusterJoin is the body of POST /cluster/join: the response of POST
// /cluster/members on the registering node, and that cluster's backup
// passphrase. Members may carry the id and learner fields of that response.
type ClusterJoin struct {
	Members          []ClusterMember `json:"members"`
	JoinerKit        string          `json:"joinerKit"`
	BackupPassphrase string          `json:"backupPassphrase"`
}

// peerURLs is the body of POST /cluster/members and PUT
// /cluster/members/{MemberID}.
type peerURLs struct {
	URLs []string `json:"urls"`
}

func (c *call) decodePeerURLs() ([]string, error) {
	var req peerURLs
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if len(req.URLs) == 0 {
		return nil, fmt.Errorf("%w: urls must list at least one peer URL, like \"https://192.0.2.1:2380\"", ErrBadRequest)
	}
	return req.URLs, nil
}

func handleClusterMembers(c *call) error {
	members, err := c.s.backend.ClusterMembers(c.ctx())
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, members)
}

func handleAddClusterMember(c *call) error {
	urls, err := c.decodePeerURLs()
	if err != nil {
		return err
	}
	added, err := c.s.backend.AddClusterMember(c.ctx(), urls)
	if err != nil {
		return err
	}
	c.s.log.Warn("cluster member registered", "urls", urls, "by", c.user.ID)
	return c.json(http.StatusCreated, added)
}

func handleJoinCluster(c *call) error {
	var req ClusterJoin
	if err := c.decode(&req); err != nil {
		return err
	}
	switch {
	case len(req.Members) == 0:
		return fmt.Errorf("%w: members must list the cluster's members", ErrBadRequest)
	case req.JoinerKit == "":
		return fmt.Errorf("%w: joinerKit must not be empty", ErrBadRequest)
	case req.BackupPassphrase == "":
		return fmt.Errorf("%w: backupPassphrase must not be empty", ErrBadRequest)
	}
	c.s.log.Warn("joining a cluster: this node's keys, users and configuration will be replaced by the cluster's", "by", c.user.ID)
	if err := c.s.backend.JoinCluster(c.ctx(), req); err != nil {
		return err
	}
	return c.noContent()
}

func handlePromoteClusterMember(c *call) error {
	id := c.r.PathValue("MemberID")
	if err := c.s.backend.PromoteClusterMember(c.ctx(), id); err != nil {
		return err
	}
	c.s.log.Info("cluster member promoted", "member", id, "by", c.user.ID)
	return c.noContent()
}

func handleUpdateClusterMember(c *call) error {
	urls, err := c.decodePeerURLs()
	if err != nil {
		return err
	}
	id := c.r.PathValue("MemberID")
	if err := c.s.backend.UpdateClusterMember(c.ctx(), id, urls); err != nil {
		return err
	}
	c.s.log.Warn("cluster member peer URLs changed", "member", id, "urls", urls, "by", c.user.ID)
	return c.noContent()
}

func handleRemoveClusterMember(c *call) error {
	id := c.r.PathValue("MemberID")
	if err := c.s.backend.RemoveClusterMember(c.ctx(), id); err != nil {
		return err
	}
	c.s.log.Warn("cluster member removed", "member", id, "by", c.user.ID)
	return c.noContent()
}

func handleForceNewCluster(c *call) error {
	c.s.log.Warn("force-new requested: the store restarts as a cluster of one", "by", c.user.ID, "remote", clientIP(c.r))
	if err := c.s.backend.ForceNewCluster(c.ctx()); err != nil {
		return err
	}
	return c.noContent()
}

func handleClusterStatus(c *call) error {
	st, err := c.s.backend.ClusterStatus(c.ctx())
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, st)
}

func handleGenerateClusterCA(c *call) error {
	ca, err := c.s.backend.GenerateClusterCA(c.ctx())
	if err != nil {
		return err
	}
	c.s.log.Warn("cluster CA generated and held by the cluster", "by", c.user.ID)
	c.w.Header().Set("Location", Prefix+"/config/tls/cluster-ca.pem")
	c.w.Header().Set("Content-Type", typePEM)
	c.w.WriteHeader(http.StatusCreated)
	_, _ = c.w.Write(ca)
	return nil
}

// signRequest is the body of POST /cluster/ca/sign.
type signRequest struct {
	CSR         string   `json:"csr"`
	IPAddresses []string `json:"ipAddresses"`
	DNSNames    []string `json:"dnsNames,omitempty"`
}

func handleSignPeerCSR(c *call) error {
	var req signRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	chain, err := c.s.backend.SignPeerCSR(c.ctx(), []byte(req.CSR), req.IPAddresses, req.DNSNames)
	if err != nil {
		return err
	}
	c.s.log.Info("node certificate issued by the cluster CA", "ips", req.IPAddresses, "by", c.user.ID)
	return c.pem(chain)
}
