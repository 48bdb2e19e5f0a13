package main

import (
	"flag"
	"strings"

	"github.com/keywarden/keywarden/appliance/client"
)

// listFlag collects a list from comma-separated and repeated flag values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

func mechanisms(l listFlag) []client.KeyMechanism {
	out := make([]client.KeyMechanism, len(l))
	for i, m := range l {
		out[i] = client.KeyMechanism(m)
	}
	return out
}

func restrictions(tags listFlag) *client.KeyRestrictions {
	if len(tags) == 0 {
		return nil
	}
	return &client.KeyRestrictions{Tags: tags}
}

// dnFlags are the subject flags shared by the CSR commands.
type dnFlags struct {
	dn    client.DistinguishedName
	sans  listFlag
	noSAN bool
}

func (d *dnFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&d.dn.CommonName, "cn", "", "common name (required)")
	fs.StringVar(&d.dn.CountryName, "country", "", "country name")
	fs.StringVar(&d.dn.StateOrProvinceName, "state", "", "state or province name")
	fs.StringVar(&d.dn.LocalityName, "locality", "", "locality name")
	fs.StringVar(&d.dn.OrganizationName, "org", "", "organization name")
	fs.StringVar(&d.dn.OrganizationalUnitName, "org-unit", "", "organizational unit name")
	fs.StringVar(&d.dn.EmailAddress, "email", "", "email address")
	fs.Var(&d.sans, "san", "subject alternative `NAMES`, comma-separated; \"IP:\" marks an address (default: the common name)")
	fs.BoolVar(&d.noSAN, "no-san", false, "add no subject alternative name extension")
}

// name returns the subject, or a usage error when it is incomplete.
func (d *dnFlags) name(path string) (client.DistinguishedName, error) {
	switch {
	case d.dn.CommonName == "":
		return d.dn, usagef("%s: --cn is required", path)
	case d.noSAN && len(d.sans) > 0:
		return d.dn, usagef("%s: --san and --no-san exclude each other", path)
	case d.noSAN:
		d.dn.SubjectAltNames = []string{}
	case len(d.sans) > 0:
		d.dn.SubjectAltNames = d.sans
	}
	return d.dn, nil
}
