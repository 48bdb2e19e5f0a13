package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/keywarden/keywarden/appliance/client"
)

func systemCommands() []*command {
	return []*command{
		{name: "info", summary: "print software, hardware and attestation details", run: cmdSystemInfo},
		{name: "reboot", summary: "reboot the appliance", run: cmdSystemReboot},
		{name: "shutdown", summary: "power the appliance off", run: cmdSystemShutdown},
		{name: "factory-reset", args: "--yes", summary: "erase every key, user and setting", run: cmdSystemFactoryReset},
	}
}

func cmdSystemInfo(ctx context.Context, a *app, args []string) error {
	c, _, err := a.start(args, 0, 0, true)
	if err != nil {
		return err
	}
	info, err := c.SystemInfo(ctx)
	if err != nil {
		return fmt.Errorf("get system info: %w", err)
	}
	return a.emit(info, func(w io.Writer) { printSystemInfo(w, info) })
}

func printSystemInfo(w io.Writer, info client.SystemInfo) {
	fmt.Fprintf(w, "software: %s (%s)\nfirmware: %s\nhardware: %s\ndevice:   %s\n",
		info.SoftwareVersion, info.SoftwareBuild, info.FirmwareVersion, info.HardwareVersion, info.DeviceID)
	for _, k := range slices.Sorted(maps.Keys(info.AKPub)) {
		fmt.Fprintf(w, "ak %s:  %s\n", k, info.AKPub[k])
	}
	for _, k := range slices.Sorted(maps.Keys(info.PCR)) {
		fmt.Fprintf(w, "pcr %s:    %s\n", k, info.PCR[k])
	}
}

func cmdSystemReboot(ctx context.Context, a *app, args []string) error {
	c, _, err := a.start(args, 0, 0, true)
	if err != nil {
		return err
	}
	if err := c.Reboot(ctx); err != nil {
		return fmt.Errorf("reboot: %w", err)
	}
	return a.done("rebooting")
}

func cmdSystemShutdown(ctx context.Context, a *app, args []string) error {
	c, _, err := a.start(args, 0, 0, true)
	if err != nil {
		return err
	}
	if err := c.Shutdown(ctx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	return a.done("shutting down")
}

func cmdSystemFactoryReset(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags()
	yes := fs.Bool("yes", false, "confirm that every key, user and setting is to be erased")
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	if !*yes {
		return usagef("system factory-reset erases every key, user and setting for good; add --yes to confirm")
	}
	c, err := a.client(true)
	if err != nil {
		return err
	}
	if err := c.FactoryReset(ctx); err != nil {
		return fmt.Errorf("factory reset: %w", err)
	}
	return a.done("factory reset; the appliance is Unprovisioned")
}
