// Command pause is the process that holds a pod's namespaces open (the CRI sandbox
// container). The cluster has no image registry, so scripts/k8s/cluster.sh builds this
// instead of pulling one: as PID 1 it reaps the children that are reparented to it and
// exits 0 on SIGTERM or SIGINT; otherwise it only waits.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 16)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		reapChildren()
	}
}

// reapChildren collects every exited child; one SIGCHLD can stand for several.
func reapChildren() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
