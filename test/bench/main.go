// Command bench measures helm-service on a real cluster: it runs the service
// as a separate process, publishes N deployment triggers for N services,
// waits for N .finished events, and reports wall time, throughput, latency
// percentiles and the service's peak memory and CPU time. With -baseline it
// does the same work with `helm upgrade --install --wait` at the same
// parallelism, so that both are measured in one run on one machine. With
// -events it also measures the event path on events the service ignores.
// -bluegreen (on by default) adds N blue/green cycles: a canary deployed,
// then promoted.
//
// -source git serves the same chart from a git repository (one commit, every
// service's chart in Keptn's layout) on a local git server instead of a
// chart directory, to compare the service's memory with either source.
//
//	go run ./test/bench -n 100 -concurrency 10 -baseline
//	go run ./test/bench -n 50 -bluegreen=false -source git
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/helm-service/helm-service/eventbus"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/timings"
)

type options struct {
	n           int
	concurrency int
	kubeconfig  string
	baseline    bool
	blueGreen   bool
	events      int
	keep        bool
	timeout     time.Duration
	debugAddr   string
	logLevel    string
	logCopy     string
	source      string
}

func main() {
	var o options
	flag.IntVar(&o.n, "n", 100, "releases (services) to deploy")
	flag.IntVar(&o.concurrency, "concurrency", 10, "MAX_PARALLEL_TASKS of helm-service, and parallel helm CLI runs for -baseline")
	flag.StringVar(&o.kubeconfig, "kubeconfig", "", "cluster to use; empty brings up the local cluster of test/cluster (and takes it down after)")
	flag.BoolVar(&o.baseline, "baseline", false, "also run the same work with the helm CLI")
	flag.BoolVar(&o.blueGreen, "bluegreen", true, "also run N blue/green cycles: deploy a canary, then promote it")
	flag.IntVar(&o.events, "events", 0, "also publish this many events that helm-service ignores and measure the event path")
	flag.BoolVar(&o.keep, "keep", false, "leave the local cluster running")
	flag.DurationVar(&o.timeout, "timeout", 30*time.Minute, "give up after this long")
	flag.StringVar(&o.logLevel, "log-level", "info", "LOG_LEVEL of helm-service")
	flag.StringVar(&o.logCopy, "log", "", "copy helm-service's log to this file at the end")
	flag.StringVar(&o.debugAddr, "debug-addr", "", "DEBUG_ADDR of helm-service (pprof), e.g. 127.0.0.1:6060, to profile it during the run")
	flag.StringVar(&o.source, "source", "dir", "CHART_SOURCE of helm-service: dir (a chart directory) or git (a local git server)")
	flag.Parse()
	if o.source != "dir" && o.source != "git" {
		fmt.Fprintln(os.Stderr, "bench: -source is dir or git")
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "helm-service-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	if o.kubeconfig == "" {
		kc, down, err := localCluster(root, o)
		if err != nil {
			return err
		}
		defer down()
		o.kubeconfig = kc
	}

	if err := checkCapacity(ctx, o.kubeconfig, podsNeeded(o)); err != nil {
		return err
	}

	fmt.Println("building helm-service")
	binary := filepath.Join(work, "helm-service")
	if err := goBuild(root, binary, "./cmd/helm-service"); err != nil {
		return err
	}
	// One small chart; every service finds it under its own name.
	chartDir := filepath.Join(work, "charts")
	if err := os.CopyFS(filepath.Join(chartDir, "bench"), os.DirFS(filepath.Join(root, "test/testdata/charts/carts"))); err != nil {
		return err
	}
	for i := range o.n {
		if err := os.Symlink("bench", filepath.Join(chartDir, serviceName(i))); err != nil {
			return err
		}
	}

	ns, err := eventbus.StartEmbedded(eventbus.EmbeddedOptions{Listen: "127.0.0.1:0", DataDir: filepath.Join(work, "nats")})
	if err != nil {
		return err
	}
	defer ns.Shutdown()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		return err
	}
	defer nc.Close()
	answers, err := listen(nc)
	if err != nil {
		return err
	}

	project := "bench" + time.Now().Format("150405")
	env := []string{
		"NATS_URL=" + ns.ClientURL(), "KUBECONFIG=" + o.kubeconfig, "CHART_DIR=" + chartDir,
		"HTTP_ADDR=127.0.0.1:0", fmt.Sprintf("MAX_PARALLEL_TASKS=%d", o.concurrency), "LOG_LEVEL=" + o.logLevel,
	}
	if o.source == "git" {
		repos := filepath.Join(work, "repos")
		if err := os.Mkdir(repos, 0o700); err != nil {
			return err
		}
		srv, err := startGitServer(repos)
		if err != nil {
			return err
		}
		defer srv.close()
		services := make([]string, o.n)
		for i := range services {
			services[i] = serviceName(i)
		}
		if err := srv.publish(work, project, filepath.Join(root, "test/testdata/charts/carts"), services, []string{"s", "bg"}); err != nil {
			return err
		}
		env = append(env, "CHART_SOURCE=git", "CHART_GIT_URL="+srv.url+"/{{.Project}}.git", "CHART_GIT_CACHE_DIR="+filepath.Join(work, "git-cache"))
	}
	if o.debugAddr != "" {
		env = append(env, "DEBUG_ADDR="+o.debugAddr)
	}
	svc, err := startService(binary, filepath.Join(work, "service.log"), env)
	if err != nil {
		return err
	}
	defer svc.stop()
	if o.logCopy != "" {
		defer func() {
			if err := copyFile(svc.logPath, o.logCopy); err != nil {
				fmt.Fprintln(os.Stderr, "bench: keep the service log:", err)
			}
		}()
	}

	var results []result
	for _, phase := range []struct{ name, image string }{{"install", "example/bench:1"}, {"upgrade", "example/bench:2"}} {
		r, err := deployAll(ctx, nc, answers, svc, project, phase.name, phase.image, o.n)
		if err != nil {
			return fmt.Errorf("%s: %w (service log: %s)", phase.name, err, svc.logPath)
		}
		results = append(results, r)
	}
	if o.blueGreen {
		r, err := promoteCycles(ctx, nc, answers, svc, project, "example/bench:3", o.n)
		if err != nil {
			return fmt.Errorf("blue/green: %w (service log: %s)", err, svc.logPath)
		}
		results = append(results, r)
	}
	if o.events > 0 {
		r, err := ignoredEvents(ctx, nc, answers, svc, o.events)
		if err != nil {
			return fmt.Errorf("event path: %w", err)
		}
		results = append(results, r)
	}
	if o.baseline {
		fmt.Println("building the helm CLI (helm.sh/helm/v3/cmd/helm at this module's version)")
		helmBin := filepath.Join(work, "helm")
		if err := goBuild(root, helmBin, "helm.sh/helm/v3/cmd/helm"); err != nil {
			return err
		}
		for _, phase := range []struct{ name, image string }{{"cli install", "example/bench:1"}, {"cli upgrade", "example/bench:2"}} {
			r, err := helmCLI(ctx, helmBin, o, filepath.Join(chartDir, "bench"), project+"-cli", phase.name, phase.image)
			if err != nil {
				return fmt.Errorf("%s: %w", phase.name, err)
			}
			results = append(results, r)
		}
	}
	printResults(o, results)
	return nil
}

// result is one measured phase.
type result struct {
	phase    string
	n        int
	failures int
	wall     time.Duration
	started  []time.Duration // trigger → .started
	finished []time.Duration // trigger → .finished
	peakRSS  int64           // KiB, of the measured process(es)
	cpu      time.Duration
	note     string
	// phases adds up the .finished timings of the phase's tasks, in
	// milliseconds by phase.
	phases map[string]int64
}

// addTimings adds one .finished's timings to the result's.
func (r *result) addTimings(t map[string]int64) {
	if r.phases == nil {
		r.phases = map[string]int64{}
	}
	for phase, ms := range t {
		r.phases[phase] += ms
	}
}

// whereTheTimeGoes is the summary line of a result's timings: the mean
// time per task of each phase and its share of all phases, in the order
// of pkg/timings.
func whereTheTimeGoes(r result, tasks int) string {
	var total int64
	for _, ms := range r.phases {
		total += ms
	}
	if total == 0 || tasks == 0 {
		return ""
	}
	var parts []string
	for _, phase := range timings.Phases() {
		ms, ok := r.phases[string(phase)]
		if !ok {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s (%.0f%%)", phase, (time.Duration(ms)*time.Millisecond/time.Duration(tasks)).Round(time.Millisecond), 100*float64(ms)/float64(total)))
	}
	return strings.Join(parts, ", ")
}

func deployAll(ctx context.Context, nc *nats.Conn, answers *answerLog, svc *service, project, phase, image string, n int) (result, error) {
	fmt.Printf("%s: %d releases\n", phase, n)
	cpu0 := svc.cpu()
	sent := make(map[string]time.Time, n)
	ids := make([]string, 0, n)
	start := time.Now()
	for i := range n {
		id, err := publishTrigger(nc, map[string]any{
			"project": project, "stage": "s", "service": serviceName(i),
			"configurationChange": map[string]any{"values": map[string]any{"image": image, "replicaCount": 1}},
			"deployment":          map[string]any{"deploymentstrategy": "direct"},
		}, "")
		if err != nil {
			return result{}, err
		}
		sent[id] = time.Now()
		ids = append(ids, id)
	}
	if err := nc.Flush(); err != nil {
		return result{}, err
	}
	r := result{phase: phase, n: n}
	for _, id := range ids {
		got, err := answers.await(ctx, id)
		if err != nil {
			return result{}, err
		}
		r.started = append(r.started, got.started.Sub(sent[id]))
		r.finished = append(r.finished, got.finished.Sub(sent[id]))
		r.addTimings(got.timings)
		if got.status != events.StatusSucceeded {
			r.failures++
			if r.note == "" {
				r.note = "first failure: " + got.message
			}
		}
	}
	r.wall = time.Since(start)
	r.cpu = svc.cpu() - cpu0
	r.peakRSS = svc.peakRSS()
	return r, nil
}

// promoteCycles runs n blue/green cycles, one per service, all at once: a
// deployment trigger with the blue_green_service strategy deploys a canary
// and, once it is answered, a release trigger with result pass promotes it.
// A cycle's time runs from the deployment trigger to the release's
// .finished; .started is the deployment's.
func promoteCycles(ctx context.Context, nc *nats.Conn, answers *answerLog, svc *service, project, image string, n int) (result, error) {
	fmt.Printf("blue/green: %d deploy+promote cycles\n", n)
	cpu0 := svc.cpu()
	r := result{phase: "bg cycle", n: n}
	var mu sync.Mutex
	fail := func(msg string) {
		mu.Lock()
		defer mu.Unlock()
		r.failures++
		if r.note == "" {
			r.note = "first failure: " + msg
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		target := map[string]any{"project": project, "stage": "bg", "service": serviceName(i)}
		deploy := maps.Clone(target)
		deploy["configurationChange"] = map[string]any{"values": map[string]any{"image": image, "replicaCount": 1}}
		deploy["deployment"] = map[string]any{"deploymentstrategy": "blue_green_service"}
		sent := time.Now()
		id, err := publishTask(nc, events.TaskDeployment, deploy, "")
		if err != nil {
			return result{}, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			deployed, err := answers.await(ctx, id)
			if err != nil {
				errs <- err
				return
			}
			if deployed.status != events.StatusSucceeded {
				fail("deployment: " + deployed.message)
				return
			}
			release := maps.Clone(target)
			release["result"], release["status"] = events.ResultPass, events.StatusSucceeded
			relID, err := publishTask(nc, events.TaskRelease, release, "")
			if err != nil {
				errs <- err
				return
			}
			promoted, err := answers.await(ctx, relID)
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			r.started = append(r.started, deployed.started.Sub(sent))
			r.finished = append(r.finished, promoted.finished.Sub(sent))
			r.addTimings(deployed.timings)
			r.addTimings(promoted.timings)
			mu.Unlock()
			if promoted.status != events.StatusSucceeded {
				fail("release: " + promoted.message)
			}
		}()
	}
	if err := nc.Flush(); err != nil {
		return result{}, err
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return result{}, err
	}
	r.wall = time.Since(start)
	r.cpu = svc.cpu() - cpu0
	r.peakRSS = svc.peakRSS()
	return r, nil
}

// ignoredEvents publishes n triggers from helm-service's own source (which
// it must ignore), then one invalid trigger whose errored .finished marks
// that everything before it went through the service.
func ignoredEvents(ctx context.Context, nc *nats.Conn, answers *answerLog, svc *service, n int) (result, error) {
	fmt.Printf("event path: %d ignored events\n", n)
	cpu0 := svc.cpu()
	data := map[string]any{"project": "p", "stage": "s", "service": "ignored"}
	start := time.Now()
	for range n {
		if _, err := publishTrigger(nc, data, "helm-service"); err != nil {
			return result{}, err
		}
	}
	sentinel, err := publishTrigger(nc, map[string]any{"stage": "s"}, "")
	if err != nil {
		return result{}, err
	}
	if _, err := answers.await(ctx, sentinel); err != nil {
		return result{}, err
	}
	wall := time.Since(start)
	return result{
		phase: "ignored events", n: n, wall: wall, cpu: svc.cpu() - cpu0, peakRSS: svc.peakRSS(),
		note: fmt.Sprintf("%.0f events/s", float64(n)/wall.Seconds()),
	}, nil
}

func helmCLI(ctx context.Context, helmBin string, o options, chart, namespace, phase, image string) (result, error) {
	fmt.Printf("%s: %d releases, %d at a time\n", phase, o.n, o.concurrency)
	r := result{phase: phase, n: o.n}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, o.concurrency)
	start := time.Now()
	for i := range o.n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			t0 := time.Now()
			cmd := exec.CommandContext(ctx, helmBin, "upgrade", "--install", serviceName(i), chart,
				"--namespace", namespace, "--create-namespace", "--wait", "--timeout", "5m",
				"--set", "image="+image, "--set", "replicaCount=1", "--kubeconfig", o.kubeconfig)
			out, err := cmd.CombinedOutput()
			d := time.Since(t0)
			var usage *syscall.Rusage
			if cmd.ProcessState != nil {
				usage, _ = cmd.ProcessState.SysUsage().(*syscall.Rusage)
			}
			mu.Lock()
			defer mu.Unlock()
			r.finished = append(r.finished, d)
			if usage != nil {
				r.cpu += time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
				r.peakRSS = max(r.peakRSS, usage.Maxrss)
			}
			if err != nil {
				r.failures++
				if r.note == "" {
					r.note = "first failure: " + strings.TrimSpace(string(out))
				}
			}
		}()
	}
	wg.Wait()
	r.wall = time.Since(start)
	if r.note == "" {
		r.note = "peak RSS is of one helm process"
	}
	return r, nil
}

func serviceName(i int) string { return fmt.Sprintf("svc-%04d", i) }

func publishTrigger(nc *nats.Conn, data map[string]any, source string) (string, error) {
	return publishTask(nc, events.TaskDeployment, data, source)
}

// publishTask publishes a trigger of the task (e.g. "release") with data.
func publishTask(nc *nats.Conn, task string, data map[string]any, source string) (string, error) {
	e := cloudevents.NewEvent()
	e.SetID(uuid.NewString())
	if source == "" {
		source = "bench"
	}
	e.SetSource(source)
	e.SetType(events.Type(task, events.PhaseTriggered))
	e.SetExtension(events.ExtContext, "bench")
	if err := e.SetData(cloudevents.ApplicationJSON, data); err != nil {
		return "", err
	}
	body, err := json.Marshal(e)
	if err != nil {
		return "", err
	}
	return e.ID(), nc.Publish(e.Type(), body)
}

func printResults(o options, results []result) {
	fmt.Printf("\nconcurrency %d, chart source %s\n", o.concurrency, o.source)
	fmt.Printf("%-15s %6s %6s %10s %10s %20s %20s %10s %9s  %s\n", "phase", "n", "failed", "wall", "per sec", "started p50/p95/p99", "finished p50/p95/p99", "peak RSS", "CPU", "note")
	for _, r := range results {
		fmt.Printf("%-15s %6d %6d %10s %10.1f %20s %20s %8.1fMi %9s  %s\n",
			r.phase, r.n, r.failures, r.wall.Round(time.Millisecond), float64(r.n)/r.wall.Seconds(),
			percentiles(r.started), percentiles(r.finished), float64(r.peakRSS)/1024, r.cpu.Round(10*time.Millisecond), r.note)
		if phases := whereTheTimeGoes(r, r.n); phases != "" {
			fmt.Printf("%-15s %s\n", "  phases/task", phases)
		}
	}
}

func percentiles(d []time.Duration) string {
	if len(d) == 0 {
		return "-"
	}
	s := slices.Clone(d)
	slices.Sort(s)
	p := func(q float64) string {
		i := min(len(s)-1, int(q*float64(len(s))))
		return s[i].Round(time.Millisecond).String()
	}
	return p(0.50) + "/" + p(0.95) + "/" + p(0.99)
}

func repoRoot() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return "", fmt.Errorf("find the repository (run from inside it): %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

func goBuild(root, out, pkg string) error {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}

// localCluster brings up the local cluster with enough fake nodes for n
// pods (kwok nodes take 110 pods each) and returns its kubeconfig.
func localCluster(root string, o options) (string, func(), error) {
	// Twice the pods the run keeps (kwok nodes hold 110), for the surge
	// pods of rolling upgrades.
	nodes := max(2, (2*podsNeeded(o))/110+1)
	env := append(os.Environ(), "CLUSTER_NAME=helm-service-bench", fmt.Sprintf("CLUSTER_NODES=%d", nodes))
	script := filepath.Join(root, "test/cluster/cluster.sh")
	up := exec.Command(script, "up")
	up.Env, up.Stderr = env, os.Stderr
	out, err := up.Output()
	if err != nil {
		return "", nil, fmt.Errorf("bring up the local cluster: %w", err)
	}
	down := func() {
		if o.keep {
			return
		}
		cmd := exec.Command(script, "down")
		cmd.Env, cmd.Stderr = env, os.Stderr
		_ = cmd.Run()
	}
	return strings.TrimSpace(string(out)), down, nil
}

var errNoAnswer = errors.New("no answer")

// checkCapacity fails early when the cluster's nodes cannot take `need` more
// pods: pending pods would only show up as wait timeouts minutes later.
func checkCapacity(ctx context.Context, kubeconfig string, need int) error {
	restConfig, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return err
	}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	var capacity int64
	for _, n := range nodes.Items {
		capacity += n.Status.Allocatable.Pods().Value()
	}
	pods, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "status.phase!=Succeeded,status.phase!=Failed"})
	if err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	if free := capacity - int64(len(pods.Items)); free < int64(need)+10 {
		return fmt.Errorf("the cluster has room for %d more pods and the benchmark needs %d: add nodes (the local cluster: CLUSTER_NODES) or use a fresh cluster", free, need+10)
	}
	return nil
}

// copyFile copies the file at src to dst.
func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o644)
}

// podsNeeded is how many pods the run's releases keep at the end.
func podsNeeded(o options) int {
	need := o.n
	if o.baseline {
		need += o.n
	}
	if o.blueGreen {
		need += 2 * o.n // primary and canary
	}
	return need
}
