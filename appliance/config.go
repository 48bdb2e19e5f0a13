package appliance

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/keywarden/keywarden/appliance/logfwd"
)

// ConfigVersion is the version of the configuration file format.
const ConfigVersion = 1

// Config is the daemon's configuration: the file format (JSON, versioned) and
// the result of applying command-line flags over it.
type Config struct {
	Version    int    `json:"version"`
	DataDir    string `json:"dataDir"`
	Listen     string `json:"listen"`
	RoT        string `json:"rot"`
	PeerListen string `json:"peerListen,omitempty"`
	// Interface is the network interface the appliance manages (GET/PUT
	// /config/network); empty means none.
	Interface string `json:"interface,omitempty"`
	// Clock says how the appliance keeps time: "system" sets the host's
	// clock (needs CAP_SYS_TIME), "offset" keeps a node-local offset from
	// it, "auto" (the default) uses the system clock when the process may
	// set it.
	Clock string `json:"clock,omitempty"`

	TPMDevice     string `json:"tpmDevice,omitempty"`
	TPMPCRs       string `json:"tpmPCRs,omitempty"`
	PKCS11Module  string `json:"pkcs11Module,omitempty"`
	PKCS11Token   string `json:"pkcs11Token,omitempty"`
	PKCS11PINFile string `json:"pkcs11PINFile,omitempty"`

	// InsecureTestKDF selects trivially cheap Argon2id parameters. Tests only:
	// it makes every passphrase brute-forceable, and the daemon says so loudly.
	InsecureTestKDF bool `json:"insecureTestKDF,omitempty"`

	Logger *slog.Logger `json:"-"`
	// LogForwarder, when set, is the handler behind Logger that forwards
	// records to syslog; GET/PUT /config/logging configure it. Without it
	// the logging configuration is stored but forwards nothing.
	LogForwarder *logfwd.Handler `json:"-"`
}

// Defaults fills unset fields with the built-in defaults.
func (c *Config) Defaults() {
	if c.Version == 0 {
		c.Version = ConfigVersion
	}
	if c.RoT == "" {
		c.RoT = "soft"
	}
	if c.TPMDevice == "" {
		c.TPMDevice = "/dev/tpmrm0"
	}
	if c.Clock == "" {
		c.Clock = "auto"
	}
	if c.TPMPCRs == "" {
		c.TPMPCRs = "7"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
}

// Validate reports every problem with the configuration at once. It has no
// side effects.
func (c Config) Validate() error {
	var errs []error
	if c.Version != ConfigVersion {
		errs = append(errs, fmt.Errorf("version is %d; this keywardend reads version %d", c.Version, ConfigVersion))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data directory is required (--data-dir)"))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen address %q must be HOST:PORT (--listen)", c.Listen))
	}
	if c.PeerListen != "" {
		if _, _, err := net.SplitHostPort(c.PeerListen); err != nil {
			errs = append(errs, fmt.Errorf("peer listen address %q must be HOST:PORT (--peer-listen)", c.PeerListen))
		}
	}
	switch c.Clock {
	case "auto", "system", "offset":
	default:
		errs = append(errs, fmt.Errorf("clock %q is unknown; choose auto, system or offset (--clock)", c.Clock))
	}
	switch c.RoT {
	case "soft", "tpm", "pkcs11":
	default:
		errs = append(errs, fmt.Errorf("root of trust %q is unknown; choose soft, tpm or pkcs11 (--rot)", c.RoT))
	}
	if _, err := c.PCRList(); err != nil {
		errs = append(errs, err)
	}
	if c.RoT == "pkcs11" && (c.PKCS11Module == "" || c.PKCS11Token == "" || c.PKCS11PINFile == "") {
		errs = append(errs, errors.New("--rot pkcs11 needs --pkcs11-module, --pkcs11-token and --pkcs11-pin-file"))
	}
	return errors.Join(errs...)
}

// PCRList parses TPMPCRs ("7", "0,2,7") into PCR indices.
func (c Config) PCRList() ([]int, error) {
	var pcrs []int
	for _, f := range strings.Split(c.TPMPCRs, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 || n > 23 {
			return nil, fmt.Errorf("TPM PCR list %q must be comma-separated indices 0 to 23 (--tpm-pcrs)", c.TPMPCRs)
		}
		if !slices.Contains(pcrs, n) {
			pcrs = append(pcrs, n)
		}
	}
	return pcrs, nil
}

// LoadConfigFile reads a configuration file. Unknown fields are errors, so a
// typo cannot silently leave a setting at its default.
func LoadConfigFile(path string) (Config, error) {
	var c Config
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("read config: %w", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("parse config %s: %w", path, err)
	}
	return c, nil
}
