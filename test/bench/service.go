package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat; it is
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// service is a process the benchmark runs and measures: helm-service,
// or a Flux controller.
type service struct {
	cmd     *exec.Cmd
	logPath string
	mu      sync.Mutex
	peakKiB int64
	done    chan struct{}
	exited  chan struct{} // closed once the process has exited
}

func startService(binary, logPath string, env []string) (*service, error) {
	return startProcess("helm-service", binary, nil, logPath, env, func() bool {
		data, _ := os.ReadFile(logPath)
		return strings.Contains(string(data), "helm-service is running")
	})
}

// startProcess starts binary with args and env (besides PATH and HOME),
// its output to logPath, and returns once ready says it is ready (within
// 60 s), sampling its peak RSS from then on.
func startProcess(what, binary string, args []string, logPath string, env []string, ready func() bool) (*service, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(binary, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}, env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &service{cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go s.sample()
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.exited = exited
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case <-exited:
			return nil, fmt.Errorf("%s exited at its start; log in %s", what, logPath)
		default:
		}
		if ready() {
			return s, nil
		}
	}
	_ = cmd.Process.Kill()
	return nil, fmt.Errorf("%s did not start; log in %s", what, logPath)
}

// sample records the peak RSS (VmHWM) while the process runs.
func (s *service) sample() {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			if kib := s.readHWM(); kib > 0 {
				s.mu.Lock()
				s.peakKiB = max(s.peakKiB, kib)
				s.mu.Unlock()
			}
		}
	}
}

func (s *service) readHWM() int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kib, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kib
		}
	}
	return 0
}

func (s *service) peakRSS() int64 {
	kib := s.readHWM()
	s.mu.Lock()
	defer s.mu.Unlock()
	return max(s.peakKiB, kib)
}

// cpu is the process's user plus system CPU time so far.
func (s *service) cpu() time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clockTicks
}

func (s *service) stop() {
	close(s.done)
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
	}
}
