package e2e

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// natsServerHelp says how to get the nats-server binary the NATS fault
// case runs.
const natsServerHelp = "E2E_NATS_SERVER must name a nats-server binary (v2.10 or later, with JetStream): " +
	"GOBIN=~/.cache/helm-service/nats-server-v2.15.2 go install github.com/nats-io/nats-server/v2@v2.15.2, " +
	"then E2E_NATS_SERVER=~/.cache/helm-service/nats-server-v2.15.2/nats-server (test/run.sh does both)"

// natsProcess is a nats-server running as a process of its own, with
// JetStream on a data dir, so that it can be stopped the way an operator
// or the kernel stops it, and started again on the same address and data.
type natsProcess struct {
	binary string
	// args are added to the command line (a cluster member's name and
	// routes, say).
	args   []string
	addr   string
	dir    string
	starts int
	cmd    *exec.Cmd
	exited chan error
}

func newNATSProcess(t *testing.T) *natsProcess {
	t.Helper()
	binary := os.Getenv("E2E_NATS_SERVER")
	if binary == "" {
		t.Fatal("E2E_NATS_SERVER is not set. " + natsServerHelp)
	}
	out, err := exec.Command(binary, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --version: %v (%s). %s", binary, err, out, natsServerHelp)
	}
	t.Logf("external NATS server: %s", out)
	return &natsProcess{binary: binary}
}

func (p *natsProcess) start(addr, dataDir string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	p.addr, p.dir = addr, dataDir
	p.starts++
	logFile, err := os.Create(filepath.Join(dataDir, fmt.Sprintf("nats-server-%d.log", p.starts)))
	if err != nil {
		return err
	}
	defer logFile.Close()
	// JetStream answers a publish before its message is on disk unless
	// told to sync every write; without it a SIGKILL a moment after a
	// publish can lose the message in the server, before helm-service can
	// see it (docs/delivery.md). The cases measure helm-service, so the
	// server keeps what it acknowledged.
	conf := filepath.Join(dataDir, "nats-sync.conf")
	if err := os.WriteFile(conf, []byte("jetstream {\n  sync_interval: always\n}\n"), 0o600); err != nil {
		return err
	}
	cmd := exec.Command(p.binary, append([]string{"-c", conf, "-a", host, "-p", port, "-js", "-sd", filepath.Join(dataDir, "nats")}, p.args...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.binary, err)
	}
	p.cmd, p.exited = cmd, make(chan error, 1)
	go func() { p.exited <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case err := <-p.exited:
			return fmt.Errorf("nats-server exited at start (%v); see %s", err, logFile.Name())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nats-server not listening on %s within 30s; see %s", addr, logFile.Name())
		}
	}
}

// stop sends sig and waits until the process is gone.
func (p *natsProcess) stop(sig syscall.Signal) error {
	if p.cmd == nil {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("nats-server did not exit within 30s of %s", sig)
	}
	p.cmd = nil
	return nil
}

func (p *natsProcess) shutdown() { _ = p.stop(syscall.SIGTERM) }

// TestFaultExternalNATSRestarted: a real nats-server process, JetStream on
// a data dir, is stopped mid-run and started again on the same port and
// data while helm-service keeps running: first with SIGTERM (an operator's
// restart), then with SIGKILL (a crash). Each round publishes work before
// the stop and after the start, and every trigger so far must have exactly
// one .finished, the cluster what each service's last trigger asked for.
func TestFaultExternalNATSRestarted(t *testing.T) {
	server := newNATSProcess(t)
	// The triggers in flight when NATS stops are delivered again 4 s
	// after it is back instead of the default 30 s, to keep the case short.
	r := newRigOn(t, "ft-xnats", map[string]string{"NATS_ACK_WAIT": "4s"}, server)
	r.startService()
	services := r.services(8)
	parent := r.t
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sigName(sig), func(t *testing.T) {
			r.t = t
			defer func() { r.t = parent }()
			base := r.startedCount()
			for _, svc := range services {
				r.send(svc)
			}
			r.waitStarted(base+3, 2*time.Minute)
			if err := server.stop(sig); err != nil {
				t.Fatal(err)
			}
			t.Logf("stopped nats-server with %s: %d of %d triggers answered", sigName(sig), r.count().finished, len(r.sent))
			time.Sleep(3 * time.Second)
			if err := server.start(r.addr, r.dataDir); err != nil {
				t.Fatal(err)
			}
			back := time.Now()
			answered := r.answerCount()
			for _, svc := range services[:4] { // and more work after the start
				r.send(svc)
			}
			for r.answerCount() == answered && time.Since(back) < 2*time.Minute {
				time.Sleep(20 * time.Millisecond)
			}
			t.Logf("first answer %s after nats-server started again", time.Since(back).Round(10*time.Millisecond))
			r.settle(5*time.Minute, back)
		})
	}
}

// answerCount is how many .started and .finished the rig has received.
func (r *rig) answerCount() int {
	r.answers.mu.Lock()
	defer r.answers.mu.Unlock()
	n := 0
	for _, answers := range r.answers.byID {
		n += len(answers)
	}
	return n
}

func sigName(sig syscall.Signal) string {
	if sig == syscall.SIGKILL {
		return "SIGKILL"
	}
	return "SIGTERM"
}
