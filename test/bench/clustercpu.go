package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// clusterComponents are the processes of the local cluster whose CPU time
// a phase is charged with: the work a tool makes the control plane do.
var clusterComponents = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok-controller"}

// clusterCPU returns the CPU time (user and system) the local cluster's
// processes on this machine have used so far, and whether there are any:
// a cluster elsewhere (-kubeconfig) has none here.
func clusterCPU() (time.Duration, bool) {
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return 0, false
	}
	var total time.Duration
	found := false
	for _, dir := range dirs {
		stat, err := os.ReadFile(filepath.Join(dir, "stat"))
		if err != nil {
			continue // the process is gone
		}
		name, cpu, ok := parseStat(string(stat))
		if !ok || !slices.ContainsFunc(clusterComponents, func(c string) bool { return commName(c) == name }) {
			continue
		}
		total += cpu
		found = true
	}
	return total, found
}

// commName is a program name as /proc/PID/stat shows it: the kernel keeps
// the first 15 bytes (kube-controller-manager is kube-controller).
func commName(program string) string {
	if len(program) > 15 {
		return program[:15]
	}
	return program
}

// parseStat reads the command name and the user plus system CPU time from
// the text of /proc/PID/stat. The name is in parentheses and may hold
// spaces and parentheses of its own, so the fields after it are found from
// the last ")".
func parseStat(stat string) (name string, cpu time.Duration, ok bool) {
	open, end := strings.IndexByte(stat, '('), strings.LastIndexByte(stat, ')')
	if open < 0 || end < open {
		return "", 0, false
	}
	fields := strings.Fields(stat[end+1:])
	if len(fields) < 13 {
		return "", 0, false
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return "", 0, false
	}
	return stat[open+1 : end], time.Duration(utime+stime) * time.Second / clockTicks, true
}

// chargeCluster runs a phase and adds to its result the cluster's CPU time
// during it.
func chargeCluster(phase func() (result, error)) (result, error) {
	before, ok := clusterCPU()
	r, err := phase()
	if after, okAfter := clusterCPU(); ok && okAfter && after >= before {
		r.clusterCPU = after - before
	}
	return r, err
}
