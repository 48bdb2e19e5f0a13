package netcfg

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// valid is the NetHSM reference config.
var valid = Config{
	IPAddress: "192.168.1.1", Netmask: "255.255.255.0", Gateway: "192.168.1.254",
	IPv6: &IPv6Config{CIDR: "fc00::1/7", Gateway: "fc00::2"},
}

// with returns valid changed by f.
func with(f func(*Config)) Config {
	c := valid
	v6 := *valid.IPv6
	c.IPv6 = &v6
	f(&c)
	return c
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		c    Config
		want []string // substrings of the error; nil means valid
	}{
		{"reference", valid, nil},
		{"no gateway", with(func(c *Config) { c.Gateway = "0.0.0.0" }), nil},
		{"empty gateway", with(func(c *Config) { c.Gateway = "" }), nil},
		{"no ipv6", with(func(c *Config) { c.IPv6 = nil }), nil},
		{"ipv6 without gateway", with(func(c *Config) { c.IPv6.Gateway = "" }), nil},
		{"ipv6 gateway ::", with(func(c *Config) { c.IPv6.Gateway = "::" }), nil},
		{"ipv6 link-local gateway", with(func(c *Config) { c.IPv6.Gateway = "fe80::1" }), nil},
		{"slash 31", Config{IPAddress: "10.0.0.0", Netmask: "255.255.255.254", Gateway: "10.0.0.1"}, nil},
		{"slash 32 without gateway", Config{IPAddress: "10.0.0.7", Netmask: "255.255.255.255", Gateway: "0.0.0.0"}, nil},

		{"empty", Config{}, []string{"ipAddress is required", "netmask is required"}},
		{"bad address", with(func(c *Config) { c.IPAddress = "192.168.1.300" }), []string{`ipAddress "192.168.1.300" is not an IPv4 address`}},
		{"ipv6 as ipAddress", with(func(c *Config) { c.IPAddress = "fc00::1" }), []string{"not an IPv4 address"}},
		{"leading zeros", with(func(c *Config) { c.IPAddress = "192.168.001.1" }), []string{"not an IPv4 address"}},
		{"unspecified address", with(func(c *Config) { c.IPAddress = "0.0.0.0" }), []string{"not a unicast host address"}},
		{"loopback address", with(func(c *Config) { c.IPAddress = "127.0.0.1" }), []string{"not a unicast host address"}},
		{"multicast address", with(func(c *Config) { c.IPAddress = "224.0.0.1" }), []string{"not a unicast host address"}},
		{"network address", with(func(c *Config) { c.IPAddress = "192.168.1.0" }), []string{"is the network address of 192.168.1.0/24"}},
		{"broadcast address", with(func(c *Config) { c.IPAddress = "192.168.1.255" }), []string{"is the broadcast address"}},
		{"netmask not contiguous", with(func(c *Config) { c.Netmask = "255.0.255.0" }), []string{`netmask "255.0.255.0" is not contiguous`}},
		{"netmask zero", with(func(c *Config) { c.Netmask = "0.0.0.0" }), []string{"is empty"}},
		{"netmask as length", with(func(c *Config) { c.Netmask = "24" }), []string{"not a dotted-quad"}},
		{"gateway outside subnet", with(func(c *Config) { c.Gateway = "192.168.2.1" }), []string{"gateway 192.168.2.1 is outside the subnet 192.168.1.0/24"}},
		{"gateway is own address", with(func(c *Config) { c.Gateway = "192.168.1.1" }), []string{"own address"}},
		{"gateway is broadcast", with(func(c *Config) { c.Gateway = "192.168.1.255" }), []string{"gateway 192.168.1.255 is the broadcast address"}},
		{"gateway not an address", with(func(c *Config) { c.Gateway = "router" }), []string{"gateway \"router\" is not an IPv4 address"}},
		{"gateway on slash 32", Config{IPAddress: "10.0.0.7", Netmask: "255.255.255.255", Gateway: "10.0.0.1"}, []string{"outside the subnet"}},
		{"ipv6 cidr missing", with(func(c *Config) { c.IPv6.CIDR = "" }), []string{"ipv6.cidr is required"}},
		{"ipv6 cidr without length", with(func(c *Config) { c.IPv6.CIDR = "fc00::1" }), []string{"not an IPv6 address with a prefix length"}},
		{"ipv6 cidr is ipv4", with(func(c *Config) { c.IPv6.CIDR = "10.0.0.1/8" }), []string{"not an IPv6 address"}},
		{"ipv6 cidr link-local", with(func(c *Config) { c.IPv6.CIDR = "fe80::5/64" }), []string{"not a global unicast address"}},
		{"ipv6 cidr multicast", with(func(c *Config) { c.IPv6.CIDR = "ff02::1/64" }), []string{"not a global unicast address"}},
		{"ipv6 cidr length 0", with(func(c *Config) { c.IPv6.CIDR = "fc00::1/0" }), []string{"prefix length 0"}},
		{"ipv6 gateway outside prefix", with(func(c *Config) { c.IPv6.Gateway = "2001:db8::1" }), []string{"ipv6.gateway 2001:db8::1 is outside the prefix fc00::/7"}},
		{"ipv6 gateway with zone", with(func(c *Config) { c.IPv6.Gateway = "fe80::1%eth0" }), []string{"without a zone"}},
		{"ipv6 gateway is own address", with(func(c *Config) { c.IPv6.Gateway = "fc00::1" }), []string{"own address"}},
		{"ipv6 gateway multicast", with(func(c *Config) { c.IPv6.Gateway = "ff02::2" }), []string{"not a unicast address"}},
		{"every problem at once", Config{IPAddress: "x", Netmask: "255.255.0.255", Gateway: "y", IPv6: &IPv6Config{CIDR: "z", Gateway: "w"}},
			[]string{"ipAddress", "netmask", "gateway \"y\"", "ipv6.cidr", "ipv6.gateway"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate() = %v, want an error wrapping ErrInvalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("Validate() = %q, want one line for the API", err)
			}
		})
	}
}

// TestJSONShape checks the NetHSM wire shape both ways.
func TestJSONShape(t *testing.T) {
	const in = `{"ipAddress":"192.168.1.1","netmask":"255.255.255.0","gateway":"0.0.0.0","ipv6":{"cidr":"fc00::1/7","gateway":"fc00::2"}}`
	var c Config
	if err := json.Unmarshal([]byte(in), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate(reference JSON) = %v", err)
	}
	out, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != in {
		t.Errorf("round trip: got %s, want %s", out, in)
	}
	out, _ = json.Marshal(Config{IPAddress: "10.0.0.1", Netmask: "255.0.0.0", Gateway: "0.0.0.0"})
	if want := `{"ipAddress":"10.0.0.1","netmask":"255.0.0.0","gateway":"0.0.0.0"}`; string(out) != want {
		t.Errorf("without ipv6: got %s, want %s", out, want)
	}
}

// TestCanonical: what Desired and Current report is the config spelled one
// way, whatever spelling came in.
func TestCanonical(t *testing.T) {
	c := Config{IPAddress: "10.0.0.1", Netmask: "255.255.0.0", Gateway: "",
		IPv6: &IPv6Config{CIDR: "FC00:0:0::1/64", Gateway: "::"}}
	s, err := c.parse()
	if err != nil {
		t.Fatal(err)
	}
	got := s.config()
	want := Config{IPAddress: "10.0.0.1", Netmask: "255.255.0.0", Gateway: "0.0.0.0", IPv6: &IPv6Config{CIDR: "fc00::1/64"}}
	if got.IPAddress != want.IPAddress || got.Netmask != want.Netmask || got.Gateway != want.Gateway || *got.IPv6 != *want.IPv6 {
		t.Errorf("canonical form: got %+v %+v, want %+v %+v", got, *got.IPv6, want, *want.IPv6)
	}
}

// FuzzValidate: Validate never panics, and a valid config's canonical form
// is valid and canonical itself, so Desired and Current round-trip.
func FuzzValidate(f *testing.F) {
	f.Add("192.168.1.1", "255.255.255.0", "0.0.0.0", "fc00::1/7", "fc00::2")
	f.Add("10.0.0.0", "255.255.255.254", "10.0.0.1", "", "")
	f.Add("1.2.3.4", "255.255.0.255", "x", "fe80::1/64", "fe80::2%eth0")
	f.Fuzz(func(t *testing.T, addr, mask, gw, cidr, gw6 string) {
		c := Config{IPAddress: addr, Netmask: mask, Gateway: gw}
		if cidr != "" || gw6 != "" {
			c.IPv6 = &IPv6Config{CIDR: cidr, Gateway: gw6}
		}
		s, err := c.parse()
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("parse(%+v) = %v, want ErrInvalid", c, err)
			}
			return
		}
		canon := s.config()
		s2, err := canon.parse()
		if err != nil {
			t.Fatalf("canonical form %+v of valid %+v is invalid: %v", canon, c, err)
		}
		if s2 != s {
			t.Fatalf("canonical form of %+v parses to %+v, want %+v", c, s2, s)
		}
	})
}

func TestAddresses(t *testing.T) {
	cases := []struct {
		name string
		c    Config
		want string
	}{
		{"v4", Config{IPAddress: "192.0.2.7", Netmask: "255.255.255.0"}, "[192.0.2.7]"},
		{"v4 and v6", Config{IPAddress: "192.0.2.7", Netmask: "255.255.255.0", IPv6: &IPv6Config{CIDR: "fd00::7/64"}}, "[192.0.2.7 fd00::7]"},
		{"invalid", Config{IPAddress: "192.0.2.7", Netmask: "255.0.255.0"}, "[]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := fmt.Sprint(tc.c.Addresses()); got != tc.want {
				t.Errorf("Addresses() = %s, want %s", got, tc.want)
			}
		})
	}
}
