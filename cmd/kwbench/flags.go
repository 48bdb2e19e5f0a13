package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"time"
)

// Environment variables holding the passphrases of a running appliance (-url).
// They are not flags so that other local users cannot read them from ps.
const (
	envAdminPass  = "KWBENCH_ADMIN_PASSPHRASE"
	envUnlockPass = "KWBENCH_UNLOCK_PASSPHRASE"
)

// connsPerProc is the default number of connections per GOMAXPROCS. On the
// 2-core reference machine throughput rises with the number of connections
// until about 16 per core (32 in all): with fewer, each process often finds
// no request ready and idles or sleeps, so the cores are not kept busy; 32
// keeps them about 95 % busy and lets each wake-up serve several requests.
// 64 gains at most a few percent more and doubles the latency
// (docs/PERFORMANCE.md has the sweep).
const connsPerProc = 16

// config is what the flags ask for.
type config struct {
	daemon     string // keywardend binary to start when url is empty
	url        string // API base of a running appliance
	caCert     []byte // PEM pinning the running appliance's certificate
	insecure   bool   // skip verification of the running appliance's certificate
	adminPass  string // for url: the admin passphrase
	unlockPass string // for url: the unlock passphrase, if it must be provisioned
	conns      int
	duration   time.Duration
	mechs      []*mechanism
	profileDir string // where to write CPU profiles of the API phases
	logLevel   slog.Level
}

func parseFlags(args []string, stderr io.Writer, getenv func(string) string) (config, error) {
	fs := flag.NewFlagSet("kwbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	fs.StringVar(&cfg.daemon, "daemon", "./bin/keywardend", "keywardend `binary` to start (ignored with -url)")
	fs.StringVar(&cfg.url, "url", "", "API base of a running appliance, e.g. https://10.0.0.5:8443/api/v1; passphrases from $"+envAdminPass+" (and $"+envUnlockPass+" to provision it)")
	caFile := fs.String("cacert", "", "with -url: PEM `file` of the appliance's certificate or its CA")
	fs.BoolVar(&cfg.insecure, "insecure", false, "with -url: do not verify the appliance's certificate")
	fs.IntVar(&cfg.conns, "c", connsPerProc*runtime.GOMAXPROCS(0), "concurrent keep-alive connections (and in-process signing goroutines)")
	fs.DurationVar(&cfg.duration, "d", 10*time.Second, "measuring time per mechanism and phase")
	mechs := fs.String("mech", "p256,ed25519,rsa2048", "comma-separated mechanisms to measure")
	fs.StringVar(&cfg.profileDir, "profile", "", "write CPU profiles of each mechanism to `dir`: kwbench-MECH.pprof (Go; the in-process phase shows as main.(*rawBench).loop) and, when perf is installed and kwbench started the daemon, keywardend-MECH.perf.data")
	level := fs.String("log-level", "info", "stderr progress: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if err := cfg.logLevel.UnmarshalText([]byte(*level)); err != nil {
		return cfg, fmt.Errorf("-log-level: %w", err)
	}
	var err error
	if cfg.mechs, err = parseMechs(*mechs); err != nil {
		return cfg, err
	}
	if err := cfg.remote(*caFile, getenv); err != nil {
		return cfg, err
	}
	return cfg, cfg.validate()
}

// remote completes the settings used with -url.
func (cfg *config) remote(caFile string, getenv func(string) string) error {
	if cfg.url == "" {
		if caFile != "" || cfg.insecure {
			return errors.New("-cacert and -insecure need -url")
		}
		return nil
	}
	cfg.adminPass, cfg.unlockPass = getenv(envAdminPass), getenv(envUnlockPass)
	if cfg.adminPass == "" {
		return fmt.Errorf("-url needs the admin passphrase in $%s", envAdminPass)
	}
	if caFile == "" {
		if !cfg.insecure {
			return errors.New("-url needs -cacert FILE or -insecure")
		}
		return nil
	}
	if cfg.insecure {
		return errors.New("-cacert and -insecure are mutually exclusive")
	}
	b, err := os.ReadFile(caFile)
	if err != nil {
		return fmt.Errorf("-cacert: %w", err)
	}
	cfg.caCert = b
	return nil
}

func (cfg *config) validate() error {
	if cfg.conns < 1 {
		return fmt.Errorf("-c %d: want at least 1", cfg.conns)
	}
	if cfg.duration <= 0 {
		return fmt.Errorf("-d %s: want a positive duration", cfg.duration)
	}
	return nil
}

func parseMechs(list string) ([]*mechanism, error) {
	var out []*mechanism
	for name := range strings.SplitSeq(list, ",") {
		m := mechanismNamed(strings.TrimSpace(name))
		if m == nil {
			return nil, fmt.Errorf("-mech: unknown mechanism %q, want p256, ed25519 or rsa2048", name)
		}
		out = append(out, m)
	}
	return out, nil
}
