package main

import (
	"os/exec"
	"syscall"
)

// stopWithParent makes the kernel send SIGTERM to the daemon if kwbench dies
// without stopping it (a crash or SIGKILL), so no daemon outlives the run.
func stopWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
