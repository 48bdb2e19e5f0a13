package main

// commands is the dispatch table. Each area's subcommands live in the file
// that implements them.
func commands() []*command {
	return index("", []*command{
		{name: "provision", args: "[--unlock-passphrase-file FILE] [--admin-passphrase-file FILE]",
			summary: "provision an Unprovisioned appliance (passphrases from files or env)", run: cmdProvision},
		{name: "unlock", args: "[--unlock-passphrase-file FILE]", summary: "unlock a Locked appliance", run: cmdUnlock},
		{name: "lock", summary: "lock an Operational appliance", run: cmdLock},
		{name: "state", summary: "print the appliance state", run: cmdState},
		{name: "info", summary: "print vendor and product", run: cmdInfo},
		{name: "random", args: "LENGTH [--out FILE]", summary: "get LENGTH random bytes (base64, or raw to --out)", run: cmdRandom},
		{name: "metrics", summary: "print the appliance metrics", run: cmdMetrics},
		{name: "backup", args: "--out FILE [--force]", summary: backupSummary, run: cmdBackup},
		{name: "restore", args: "--file FILE [--system-time RFC3339-TIME] [--backup-passphrase-file FILE]", summary: restoreSummary, run: cmdRestore},
		{name: "users", summary: "manage user accounts", subs: userCommands()},
		{name: "namespaces", summary: "manage namespaces", subs: namespaceCommands()},
		{name: "keys", summary: "manage keys and use them", subs: keyCommands()},
		{name: "config", summary: "configure the appliance", subs: []*command{
			{name: "tls", summary: "manage the appliance's TLS key and certificate", subs: tlsCommands()},
			{name: "time", summary: "read or set the appliance clock", subs: timeCommands()},
		}},
		{name: "cluster", summary: "manage the appliance cluster", subs: clusterCommands()},
		{name: "system", summary: "appliance system actions", subs: systemCommands()},
	})
}
