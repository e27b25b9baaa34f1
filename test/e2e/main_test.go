// Package e2e runs helm-service as a process against a real NATS server and a
// real Kubernetes API server (the local cluster of test/cluster), publishes
// Keptn CloudEvents and checks both the answers and the cluster.
//
// It runs when E2E_KUBECONFIG names the cluster's kubeconfig; test/run.sh
// brings the cluster up and sets it.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/helm-service/helm-service/eventbus"
	"github.com/helm-service/helm-service/pkg/events"
)

// env is what every test of the suite shares.
type env struct {
	kubeconfig string
	natsURL    string
	binary     string
	chartDir   string
	clientset  kubernetes.Interface
	nats       *nats.Conn
	answers    *answerLog
	service    *serviceProcess
	runID      string
}

var suite *env

func TestMain(m *testing.M) {
	kubeconfig := os.Getenv("E2E_KUBECONFIG")
	if kubeconfig == "" {
		fmt.Println("e2e: skipped: set E2E_KUBECONFIG to a cluster's kubeconfig (test/run.sh brings the local cluster up and sets it)")
		os.Exit(0)
	}
	code, err := run(m, kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M, kubeconfig string) (int, error) {
	tmp, err := os.MkdirTemp("", "helm-service-e2e-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)

	binary := filepath.Join(tmp, "helm-service")
	build := exec.Command("go", "build", "-race", "-o", binary, "../../cmd/helm-service")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		return 0, fmt.Errorf("build helm-service: %w", err)
	}

	restConfig, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", kubeconfig, err)
	}
	clientset, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return 0, err
	}

	// helm-service acts as the deployer of each namespace: its role
	// comes from chart/.
	setupCtx, cancelSetup := context.WithTimeout(context.Background(), time.Minute)
	defer cancelSetup()
	if err := installDeployerRole(setupCtx, clientset); err != nil {
		return 0, err
	}

	chartDir := filepath.Join(tmp, "charts")
	if err := os.CopyFS(filepath.Join(chartDir, "carts"), os.DirFS("../testdata/charts/carts")); err != nil {
		return 0, fmt.Errorf("copy sample chart: %w", err)
	}

	ns, err := eventbus.StartEmbedded(eventbus.EmbeddedOptions{Listen: "127.0.0.1:0", DataDir: filepath.Join(tmp, "nats")})
	if err != nil {
		return 0, err
	}
	defer ns.Shutdown()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	answers, err := listen(nc)
	if err != nil {
		return 0, err
	}

	svc, err := startService(binary, filepath.Join(tmp, "service.log"), map[string]string{
		"NATS_URL":     ns.ClientURL(),
		"KUBECONFIG":   kubeconfig,
		"CHART_DIR":    chartDir,
		"WAIT_TIMEOUT": "2m",
		"HTTP_ADDR":    "127.0.0.1:0",
		"LOG_LEVEL":    "debug",
		// The suite plays the control plane.
		"DELETE_EVENT_SOURCES": "e2e-test,shipyard-controller",
	})
	if err != nil {
		return 0, err
	}
	suite = &env{
		kubeconfig: kubeconfig, natsURL: ns.ClientURL(), binary: binary, chartDir: chartDir, clientset: clientset,
		nats: nc, answers: answers, service: svc,
		runID: strconv.FormatInt(time.Now().Unix()%100000, 36),
	}
	code := m.Run()
	peak, err := svc.stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: stopping helm-service:", err)
		code = 1
	}
	fmt.Printf("e2e: helm-service peak RSS during the suite: %.1f MiB (race-enabled build)\n", float64(peak)/1024)
	if code != 0 {
		svc.dumpLog(os.Stderr)
	}
	return code, nil
}

// serviceProcess is helm-service running as a child process.
type serviceProcess struct {
	cmd     *exec.Cmd
	logPath string
	mu      sync.Mutex
	peakKiB int64
	done    chan struct{}
}

// startService runs the binary with the given environment (on top of a
// minimal one) and waits until it logs that it is running.
func startService(binary, logPath string, vars map[string]string) (*serviceProcess, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(binary)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + filepath.Dir(logPath)}
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &serviceProcess{cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go p.sampleMemory()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		data, _ := os.ReadFile(logPath)
		if strings.Contains(string(data), "helm-service is running") {
			return p, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	data, _ := os.ReadFile(logPath)
	return nil, fmt.Errorf("helm-service did not start within 30s; log:\n%s", data)
}

// sampleMemory records the process's peak RSS (VmHWM) until it exits.
func (p *serviceProcess) sampleMemory() {
	path := fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-t.C:
		}
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		s := bufio.NewScanner(f)
		for s.Scan() {
			if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
				kib, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				p.mu.Lock()
				p.peakKiB = max(p.peakKiB, kib)
				p.mu.Unlock()
			}
		}
		f.Close()
	}
}

// stop sends SIGTERM, waits for a clean exit and returns the peak RSS in KiB.
func (p *serviceProcess) stop() (int64, error) {
	time.Sleep(250 * time.Millisecond) // one last memory sample
	close(p.done)
	_ = p.cmd.Process.Signal(os.Interrupt)
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	select {
	case err := <-exited:
		p.mu.Lock()
		defer p.mu.Unlock()
		if err != nil {
			return p.peakKiB, fmt.Errorf("helm-service exited with %w", err)
		}
		return p.peakKiB, nil
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		return p.peakKiB, fmt.Errorf("helm-service did not stop within 30s of SIGTERM")
	}
}

func (p *serviceProcess) dumpLog(w *os.File) {
	data, _ := os.ReadFile(p.logPath)
	fmt.Fprintf(w, "---- helm-service log ----\n%s\n", data)
}

// answerLog collects every .started and .finished on the bus by triggeredid.
type answerLog struct {
	mu      sync.Mutex
	changed *sync.Cond
	byID    map[string][]cloudevents.Event
}

func listen(nc *nats.Conn) (*answerLog, error) {
	a := &answerLog{byID: map[string][]cloudevents.Event{}}
	a.changed = sync.NewCond(&a.mu)
	// One subscription for both phases: NATS keeps one publisher's order
	// within a subscription, not across two, and .started must be seen
	// before .finished.
	_, err := nc.Subscribe(events.Prefix+">", func(m *nats.Msg) {
		if !strings.HasSuffix(m.Subject, ".started") && !strings.HasSuffix(m.Subject, ".finished") {
			return
		}
		var e cloudevents.Event
		if err := json.Unmarshal(m.Data, &e); err != nil {
			return
		}
		a.mu.Lock()
		id := events.StringExtension(e, events.ExtTriggeredID)
		a.byID[id] = append(a.byID[id], e)
		a.mu.Unlock()
		a.changed.Broadcast()
	})
	if err != nil {
		return nil, err
	}
	return a, nc.Flush()
}

// await waits until the trigger with this id has its .finished and returns
// every answer to it in arrival order.
func (a *answerLog) await(t *testing.T, id string, timeout time.Duration) []cloudevents.Event {
	t.Helper()
	var answers []cloudevents.Event
	a.waitFor(t, id, ".finished", timeout, func(all []cloudevents.Event) bool {
		for _, e := range all {
			if strings.HasSuffix(e.Type(), ".finished") {
				answers = append([]cloudevents.Event(nil), all...)
				return true
			}
		}
		return false
	})
	return answers
}

// waitFor waits until found accepts the answers to the trigger with this
// id, or fails the test after timeout saying what (what) never came.
func (a *answerLog) waitFor(t *testing.T, id, what string, timeout time.Duration, found func([]cloudevents.Event) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	stop := time.AfterFunc(timeout, a.changed.Broadcast)
	defer stop.Stop()
	a.mu.Lock()
	defer a.mu.Unlock()
	for !found(a.byID[id]) {
		if time.Now().After(deadline) {
			var got []string
			for _, e := range a.byID[id] {
				got = append(got, e.Type())
			}
			t.Fatalf("no %s for trigger %s within %s (answers to this id: %v)", what, id, timeout, got)
		}
		a.changed.Wait()
	}
}

// trigger publishes a deployment.triggered with the given data and returns
// its id.
func (e *env) trigger(t *testing.T, nc *nats.Conn, data map[string]any) string {
	t.Helper()
	ev := newEvent(t, "sh.keptn.event.deployment.triggered", data)
	ev.SetExtension(events.ExtGitCommitID, "0123abc")
	return send(t, nc, ev)
}

// newEvent is an event of eventType from the suite, with a fresh id, the
// Keptn context of the test and data.
func newEvent(t *testing.T, eventType string, data any) cloudevents.Event {
	t.Helper()
	ev := cloudevents.NewEvent()
	ev.SetID(uuid.NewString())
	ev.SetSource("e2e-test")
	ev.SetType(eventType)
	ev.SetExtension(events.ExtContext, "e2e-"+t.Name())
	if err := ev.SetData(cloudevents.ApplicationJSON, data); err != nil {
		t.Fatal(err)
	}
	return ev
}

// send publishes ev on nc, on the subject of its type, as Keptn does, and
// returns its id.
func send(t *testing.T, nc *nats.Conn, ev cloudevents.Event) string {
	t.Helper()
	body, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish(ev.Type(), body); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return ev.ID()
}

func (e *env) publishRaw(t *testing.T, nc *nats.Conn, body []byte) {
	t.Helper()
	if err := nc.Publish("sh.keptn.event.deployment.triggered", body); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// finished waits for the answers to a trigger, checks that exactly one
// .started came first and one .finished last, and returns the finished data.
func (e *env) finished(t *testing.T, id string, timeout time.Duration) (cloudevents.Event, events.DeploymentFinished) {
	t.Helper()
	answers := e.answers.await(t, id, timeout)
	if len(answers) != 2 || answers[0].Type() != "sh.keptn.event.deployment.started" || answers[1].Type() != "sh.keptn.event.deployment.finished" {
		var types []string
		for _, a := range answers {
			types = append(types, a.Type())
		}
		t.Fatalf("answers to %s = %v, want [.started .finished]", id, types)
	}
	var data events.DeploymentFinished
	if err := json.Unmarshal(answers[1].Data(), &data); err != nil {
		t.Fatalf("finished data %s: %v", answers[1].Data(), err)
	}
	return answers[1], data
}

// project returns a project name unique to this run, so that the suite can
// run again against the same cluster.
func (e *env) project(name string) string {
	return name + "-" + e.runID
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}
