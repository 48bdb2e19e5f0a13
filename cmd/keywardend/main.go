// Command keywardend is the Keywarden appliance daemon: it serves the
// NetHSM-compatible REST API over HTTPS, keeps its keys in embedded etcd and
// binds them to a root of trust.
//
// "keywardend witness" runs a witness instead: a voting member of the
// cluster's store that holds only ciphertext and serves no API, so that two
// appliances keep a quorum when one is down. `keywardend witness -h`
// explains how to register and start one.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/keywarden/keywarden/appliance"
	"github.com/keywarden/keywarden/appliance/logfwd"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "keywardend:", err)
		os.Exit(1)
	}
}

// gcPercent trades memory for CPU: an appliance runs nothing else, and every
// request allocates, so collecting less often leaves more CPU for keys.
// GOGC in the environment still wins.
const gcPercent = 400

// run runs the daemon, or the witness when args start with "witness", until
// SIGTERM or SIGINT.
func run(args []string) error { return runContext(context.Background(), args, os.Stderr) }

// runContext is run that also stops when ctx ends and logs to stderr, so
// that tests can run either mode in-process.
func runContext(ctx context.Context, args []string, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "witness" {
		ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		return runWitness(ctx, args[1:], stderr)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	cfg, level, err := configure(args)
	if err != nil {
		return err
	}
	hostname, _ := os.Hostname()
	fwd := logfwd.NewHandler(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}), hostname, "keywardend")
	defer fwd.Close()
	cfg.Logger, cfg.LogForwarder = slog.New(fwd), fwd
	a, err := appliance.New(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return a.Run(ctx)
}

// configure reads the configuration file, if any, and applies the flags that
// were set on top of it.
func configure(args []string) (appliance.Config, slog.Level, error) {
	fs := flag.NewFlagSet("keywardend", flag.ContinueOnError)
	var cfg appliance.Config
	configFile := fs.String("config", "", "configuration file (JSON); flags override it")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "directory for the appliance's state (created 0700)")
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:8443", "HOST:PORT of the HTTPS API")
	fs.StringVar(&cfg.RoT, "rot", "soft", "root of trust: soft (development only), tpm or pkcs11")
	fs.StringVar(&cfg.PeerListen, "peer-listen", "", "HOST:PORT for cluster peer traffic (none by default)")
	fs.StringVar(&cfg.Interface, "interface", "", "network interface the appliance manages (GET/PUT /config/network); none by default")
	fs.StringVar(&cfg.Clock, "clock", "auto", "time keeping: system (set the host clock), offset (node-local offset) or auto")
	fs.StringVar(&cfg.TPMDevice, "tpm-device", "/dev/tpmrm0", "TPM: /dev/tpmrm0, tcp:HOST:PORT or unix:PATH")
	fs.StringVar(&cfg.TPMPCRs, "tpm-pcrs", "7", "TPM: PCR indices of the sealing policy")
	fs.StringVar(&cfg.PKCS11Module, "pkcs11-module", "", "PKCS#11: module path")
	fs.StringVar(&cfg.PKCS11Token, "pkcs11-token", "", "PKCS#11: token label")
	fs.StringVar(&cfg.PKCS11PINFile, "pkcs11-pin-file", "", "PKCS#11: file holding the user PIN")
	fs.BoolVar(&cfg.InsecureTestKDF, "insecure-test-kdf", false, "TESTS ONLY: trivially weak passphrase hashing")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return cfg, 0, err
	}
	if fs.NArg() > 0 {
		return cfg, 0, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return cfg, 0, fmt.Errorf("--log-level: %w", err)
	}
	if *configFile == "" {
		return cfg, level, nil
	}
	fromFile, err := appliance.LoadConfigFile(*configFile)
	if err != nil {
		return cfg, 0, err
	}
	fromFlags := cfg
	cfg = fromFile
	fs.Visit(func(f *flag.Flag) { overrideFlag(&cfg, fromFlags, f.Name) })
	if cfg.Listen == "" {
		cfg.Listen = fromFlags.Listen
	}
	return cfg, level, nil
}

// overrideFlag copies the value of the flag named name from flags into cfg.
func overrideFlag(cfg *appliance.Config, flags appliance.Config, name string) {
	switch name {
	case "data-dir":
		cfg.DataDir = flags.DataDir
	case "listen":
		cfg.Listen = flags.Listen
	case "rot":
		cfg.RoT = flags.RoT
	case "clock":
		cfg.Clock = flags.Clock
	case "interface":
		cfg.Interface = flags.Interface
	case "peer-listen":
		cfg.PeerListen = flags.PeerListen
	case "tpm-device":
		cfg.TPMDevice = flags.TPMDevice
	case "tpm-pcrs":
		cfg.TPMPCRs = flags.TPMPCRs
	case "pkcs11-module":
		cfg.PKCS11Module = flags.PKCS11Module
	case "pkcs11-token":
		cfg.PKCS11Token = flags.PKCS11Token
	case "pkcs11-pin-file":
		cfg.PKCS11PINFile = flags.PKCS11PINFile
	case "insecure-test-kdf":
		cfg.InsecureTestKDF = flags.InsecureTestKDF
	}
}
