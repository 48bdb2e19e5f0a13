package main

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/keywarden/keywarden/appliance/client"
)

// This file holds the cluster CA commands and the steps of cluster
// fulljoin that use the CA the cluster holds itself. Such a CA's key is
// sealed in the cluster, so any member can certify a new node and no CA
// key has to live on the operator's machine.

func cmdClusterCA(ctx context.Context, a *app, args []string) error {
	return a.fetchPEM(args, "get cluster ca", func(c *client.Client) ([]byte, error) { return c.ClusterCA(ctx) })
}

func cmdClusterSetCA(ctx context.Context, a *app, args []string) error {
	c, pos, err := a.start(args, 1, 1, true)
	if err != nil {
		return err
	}
	caPEM, err := os.ReadFile(pos[0])
	if err != nil {
		return fmt.Errorf("read cluster ca: %w", err)
	}
	if err := c.SetClusterCA(ctx, caPEM); err != nil {
		return fmt.Errorf("set cluster ca: %w", err)
	}
	return a.done("cluster ca installed")
}

// cmdClusterGenerateCA warns on stderr that the appliance's certificate
// changed: the --ca that reached it a moment ago no longer does.
func cmdClusterGenerateCA(ctx context.Context, a *app, args []string) error {
	err := a.fetchPEM(args, "generate cluster ca", func(c *client.Client) ([]byte, error) { return c.GenerateClusterCA(ctx) })
	if err == nil {
		fmt.Fprintln(a.stderr, "kwctl: the appliance now presents a certificate issued by this CA: pass the CA with --ca from now on")
	}
	return err
}

func cmdClusterSignCSR(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags()
	csrFile := fs.String("csr", "", "the node's certificate request, PEM `FILE` (\"-\" for stdin; required), as config tls csr prints it on that node")
	var ips, names listFlag
	fs.Var(&ips, "ip", "`IP` address to certify, at least the node's peer address (required; comma-separated or repeated)")
	fs.Var(&names, "dns", "DNS `NAME` to certify as well (comma-separated or repeated)")
	out := fs.String("out", "", "write the chain (PEM) to `FILE`")
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	switch {
	case *csrFile == "":
		return usagef("cluster sign-csr: --csr is required")
	case len(ips) == 0:
		return usagef("cluster sign-csr: --ip is required: the node's peer address at least")
	}
	for _, ip := range ips {
		if net.ParseIP(ip) == nil {
			return usagef("cluster sign-csr: --ip %q is not an IP address", ip)
		}
	}
	csr, err := a.readInput(*csrFile)
	if err != nil {
		return err
	}
	c, err := a.client(true)
	if err != nil {
		return err
	}
	chain, err := c.SignPeerCSR(ctx, client.ClusterSignRequest{CSR: string(csr), IPAddresses: ips, DNSNames: names})
	if err != nil {
		return fmt.Errorf("sign csr with the cluster ca: %w", err)
	}
	return a.emitPEM(chain, *out)
}

// useClusterCA is step 1 of fulljoin with the cluster's own CA: it finds
// the member's cluster CA or has the member generate one, which certifies
// the member for its peer address too (so no --member-peer is needed).
// The clients are rebuilt to trust that CA, which issues the certificates
// both nodes present from now on.
func (j *fullJoin) useClusterCA(ctx context.Context) error {
	caPEM, err := j.member.ClusterCA(ctx)
	generated := false
	switch {
	case client.StatusCode(err) == http.StatusNotFound:
		j.say("member: no cluster CA yet; having it generate one, which re-certifies the member for its peer address")
		if caPEM, err = j.member.GenerateClusterCA(ctx); err != nil {
			return fmt.Errorf("generate the cluster CA on the member: %w", err)
		}
		generated = true
	case err != nil:
		return fmt.Errorf("get the member's cluster CA: %w", err)
	}
	ca, err := parseCACert(caPEM, j.a.now())
	if err != nil {
		return fmt.Errorf("the member's cluster CA: %w", err)
	}
	if generated {
		j.say("member: generated cluster CA %s; the member presents a certificate from it now", caName(ca))
	} else {
		j.say("member: using its cluster CA %s", caName(ca))
	}
	j.clusterCA = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})
	return j.connect(j.clusterCA)
}

// caName names a CA for the operator to recognise: its subject and the
// SHA-256 fingerprint of its certificate.
func caName(ca *x509.Certificate) string {
	return fmt.Sprintf("%q (SHA-256 %X)", ca.Subject.CommonName, sha256.Sum256(ca.Raw))
}

// clusterSign is the peerSigner of the cluster's own CA: the member signs.
// Its 412 means a cluster CA set from outside, whose key only the operator
// has (step 1 made sure the member has a cluster CA).
func (j *fullJoin) clusterSign(ctx context.Context, csrPEM []byte, hosts []string) ([]byte, error) {
	var names x509.Certificate
	addHosts(&names, hosts)
	req := client.ClusterSignRequest{CSR: string(csrPEM), DNSNames: names.DNSNames}
	for _, ip := range names.IPAddresses {
		req.IPAddresses = append(req.IPAddresses, ip.String())
	}
	chain, err := j.member.SignPeerCSR(ctx, req)
	switch {
	case client.StatusCode(err) == http.StatusPreconditionFailed:
		return nil, fmt.Errorf("the member's cluster CA was set from outside, so its key is not in the cluster: "+
			"pass --ca-cert and --ca-key with that CA (the member said: %w)", err)
	case err != nil:
		return nil, fmt.Errorf("have the member's cluster CA sign: %w", err)
	}
	return chain, nil
}
