package appliance

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/keywarden/keywarden/appliance/api"
	"github.com/keywarden/keywarden/cluster"
)

// pathClusterCA is the clustered, domain-sealed cluster CA certificate.
const pathClusterCA = "/kw/v1/config/cluster-ca"

// ClusterCA implements api.Backend.
func (a *Appliance) ClusterCA(ctx context.Context) ([]byte, error) {
	s := a.currentSession()
	if s == nil {
		return nil, fmt.Errorf("%w: the appliance is not Operational", api.ErrPrecondition)
	}
	it, err := s.vault.Get(ctx, pathClusterCA)
	if errors.Is(err, cluster.ErrNotFound) {
		return nil, fmt.Errorf("%w: no cluster CA has been set", api.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return it.Value, nil
}

// SetClusterCA implements api.Backend. The certificate must be a CA that
// signs this node's current TLS certificate (peers authenticate each other
// with their TLS certificates), and it cannot change while the cluster has
// other members, whose certificates it would stop vouching for.
func (a *Appliance) SetClusterCA(ctx context.Context, pemCert []byte) error {
	s := a.currentSession()
	if s == nil {
		return fmt.Errorf("%w: the appliance is not Operational", api.ErrPrecondition)
	}
	if err := a.peerIdentityFixed(); err != nil {
		return err
	}
	ca, err := parseCA(pemCert)
	if err != nil {
		return fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	if err := a.checkSignsNode(ca); err != nil {
		return fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	if members, err := a.member.Members(ctx); err != nil {
		return err
	} else if len(members) > 1 {
		return fmt.Errorf("%w: the cluster has %d members; the cluster CA cannot change while it has more than one", api.ErrPrecondition, len(members))
	}
	// A CA set from outside replaces one the cluster generated, key and all.
	_, err = s.vault.Txn(ctx, nil, s.vault.Put(pathClusterCA, pemCert), cluster.Delete(pathClusterCAKey))
	return err
}

// parseCA accepts exactly one PEM certificate that may sign certificates.
func parseCA(data []byte) (*x509.Certificate, error) {
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("the body must be one PEM CERTIFICATE")
	}
	if next, _ := pem.Decode(rest); next != nil {
		return nil, errors.New("the body must hold exactly one certificate")
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("the certificate is malformed: %v", err)
	}
	if !ca.BasicConstraintsValid || !ca.IsCA {
		return nil, errors.New("the certificate is not a CA (basicConstraints CA:TRUE is missing)")
	}
	if ca.KeyUsage != 0 && ca.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, errors.New("the CA certificate's keyUsage does not allow keyCertSign")
	}
	return ca, nil
}

// checkSignsNode verifies this node's TLS leaf against ca alone.
func (a *Appliance) checkSignsNode(ca *x509.Certificate) error {
	leafDER := a.TLS().Certificate().Certificate[0]
	leaf, err := x509.ParseCertificate(leafDER)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	_, err = leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}, CurrentTime: a.Now()})
	if err != nil {
		return fmt.Errorf("the CA does not sign this node's current TLS certificate (%v); have the node's certificate signed by it first (POST /config/tls/csr.pem, then PUT /config/tls/cert.pem)", err)
	}
	return nil
}

// ClusterMembers implements api.Backend. A lone appliance that does not
// listen for peers advertises no peer URL, so its one member has none.
func (a *Appliance) ClusterMembers(ctx context.Context) ([]api.ClusterMember, error) {
	members, err := a.member.Members(ctx)
	if err != nil {
		return nil, err
	}
	return apiMembers(members, a.member.Config().PeerTLS != nil), nil
}
