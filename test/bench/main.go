// Command bench measures helm-service on a real cluster: it runs the service
// as a separate process, publishes N deployment triggers for N services,
// waits for N .finished events, and reports wall time, throughput, latency
// percentiles and the service's peak memory and CPU time. -baseline does
// the same work, in the same run on the same cluster, with other tools:
//
//   - cli: `helm upgrade --install --wait` at the same parallelism;
//   - floor: the objects helm-service deployed (read from its release
//     records) applied with server-side apply, no Helm, waiting for the same
//     readiness: the least the cluster needs for the work;
//   - records: the floor plus what Helm must do for a release beyond
//     applying it (list its records, read each object first, store the
//     revision's record pending, then mark it deployed and the previous one
//     superseded): the least any Helm-based tool needs;
//   - flux: Flux's helm-controller and source-controller, built from their
//     Go modules (test/bench/flux), run as processes with --concurrent at
//     the same parallelism, the chart served from an OCI registry on
//     loopback, N HelmReleases installed then upgraded.
//
// -n and -concurrency take comma-separated lists: every N runs at every
// concurrency, each run in namespaces of its own that are removed after it,
// and one table at the end shows every run, with helm-service's wall time as
// a share of each baseline's. -repeat K does each N and concurrency K times
// in a row and adds, for each ratio, its median over the K runs with the
// lowest and the highest. With -events it also measures the event path
// on events the service ignores. -bluegreen (on by default) adds N
// blue/green cycles: a canary deployed, then promoted.
//
// -source git serves the same chart from a git repository (one commit, every
// service's chart in Keptn's layout) on a local git server instead of a
// chart directory, to compare the service's memory with either source.
//
//	go run ./test/bench -n 100 -concurrency 10 -baseline
//	go run ./test/bench -n 100,1000 -baseline cli,floor,flux -bluegreen=false
//	go run ./test/bench -n 100 -concurrency 10,25,50 -baseline floor,flux -bluegreen=false
//	go run ./test/bench -n 100 -baseline floor,records -repeat 5 -bluegreen=false
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
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/helm-service/helm-service/eventbus"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/timings"
	"github.com/helm-service/helm-service/test/deployerrole/role"
)

type options struct {
	ns           []int // -n: releases per run
	concurrency  []int // -concurrency: one run per value (a sweep)
	repeat       int   // -repeat: runs of each n and concurrency, one after the other
	baselines    []string
	kubeconfig   string
	blueGreen    bool
	events       int
	keep         bool
	timeout      time.Duration
	phaseTimeout time.Duration
	debugAddr    string
	logLevel     string
	logCopy      string
	source       string
	// serviceEnv are settings of helm-service on top of the bench's own
	// (-set KEY=VALUE), to compare settings.
	serviceEnv []string
}

func main() {
	var o options
	var ns, concurrency, baselines string
	flag.StringVar(&ns, "n", "100", "releases (services) to deploy; a comma-separated list (100,1000) runs each in turn")
	flag.StringVar(&concurrency, "concurrency", "10", "MAX_PARALLEL_TASKS of helm-service, parallel helm CLI runs and floor applies, helm-controller's --concurrent; a comma-separated list (10,25,50) sweeps them")
	flag.StringVar(&baselines, "baseline", "", "also do the same work with: cli (helm upgrade --install --wait), floor (server-side apply of the same objects, no Helm), records (the floor plus Helm's bookkeeping of each release), flux (helm-controller and source-controller); a comma-separated list; alone means cli")
	flag.IntVar(&o.repeat, "repeat", 1, "run each n and concurrency this many times, one after the other, and add the median over the runs of each ratio (one run's ratio moves by up to a third on a small machine)")
	flag.StringVar(&o.kubeconfig, "kubeconfig", "", "cluster to use; empty brings up the local cluster of test/cluster (and takes it down after)")
	flag.BoolVar(&o.blueGreen, "bluegreen", true, "also run N blue/green cycles: deploy a canary, then promote it")
	flag.IntVar(&o.events, "events", 0, "also publish this many events that helm-service ignores and measure the event path")
	flag.BoolVar(&o.keep, "keep", false, "leave the local cluster running, and each run's namespaces")
	flag.DurationVar(&o.timeout, "timeout", 3*time.Hour, "give up after this long")
	flag.DurationVar(&o.phaseTimeout, "phase-timeout", 30*time.Minute, "give up on one phase (N installs or N upgrades of one tool) after this long")
	flag.StringVar(&o.logLevel, "log-level", "info", "LOG_LEVEL of helm-service")
	flag.StringVar(&o.logCopy, "log", "", "copy helm-service's log to this file at the end (of each run, suffixed .n<N>-c<C> when there are several, and .r<run> with -repeat)")
	flag.StringVar(&o.debugAddr, "debug-addr", "", "DEBUG_ADDR of helm-service (pprof), e.g. 127.0.0.1:6060, to profile it during the run")
	flag.StringVar(&o.source, "source", "dir", "CHART_SOURCE of helm-service: dir (a chart directory) or git (a local git server)")
	flag.Func("set", "a setting of helm-service, KEY=VALUE (repeatable), on top of the bench's own: -set KUBE_QPS=100; MAX_PARALLEL_TASKS=default leaves that one unset, so helm-service sizes it", func(v string) error {
		if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
			return fmt.Errorf("want KEY=VALUE, got %q", v)
		}
		o.serviceEnv = append(o.serviceEnv, v)
		return nil
	})
	if err := flag.CommandLine.Parse(normalizeArgs(os.Args[1:])); err != nil {
		os.Exit(2)
	}
	var err error
	if o.ns, err = parseCounts("n", ns); err == nil {
		if o.concurrency, err = parseCounts("concurrency", concurrency); err == nil {
			o.baselines, err = parseBaselines(baselines)
		}
	}
	if err == nil && o.repeat < 1 {
		err = fmt.Errorf("-repeat %d: want 1 or more runs", o.repeat)
	}
	if err == nil && flag.NArg() > 0 {
		err = fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	if err == nil && o.source != "dir" && o.source != "git" {
		err = errors.New("-source is dir or git")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
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

func (o options) wants(baseline string) bool { return slices.Contains(o.baselines, baseline) }

// bench is what every run of a benchmark shares.
type bench struct {
	o        options
	root     string
	work     string
	binary   string // helm-service
	helmBin  string // the helm CLI, with -baseline cli
	flux     fluxTools
	registry *chartRegistry // the chart for Flux, with -baseline flux
	chartDir string
	cluster  *cluster
	nc       *nats.Conn
	natsURL  string
	answers  *answerLog
	gitEnv   func(project string) ([]string, error)
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
	maxN := slices.Max(o.ns)

	if o.kubeconfig == "" {
		kc, down, err := localCluster(root, o, maxN)
		if err != nil {
			return err
		}
		defer down()
		o.kubeconfig = kc
	}
	if err := checkCapacity(ctx, o.kubeconfig, podsNeeded(o, maxN)); err != nil {
		return err
	}
	c, err := newCluster(o.kubeconfig)
	if err != nil {
		return err
	}
	b := &bench{o: o, root: root, work: work, cluster: c}
	// helm-service's tasks act as each namespace's deployer, bound to the
	// chart's deployer ClusterRole, which it checks for at start.
	if _, err := role.Apply(ctx, c.clients, filepath.Join(root, "chart"), "helm-service", nil); err != nil {
		return fmt.Errorf("apply the deployer ClusterRole: %w", err)
	}

	fmt.Println("building helm-service")
	b.binary = filepath.Join(work, "helm-service")
	if err := goBuild(root, b.binary, "./cmd/helm-service"); err != nil {
		return err
	}
	if o.wants(baselineCLI) {
		fmt.Println("building the helm CLI (helm.sh/helm/v3/cmd/helm at this module's version)")
		b.helmBin = filepath.Join(work, "helm")
		if err := goBuild(root, b.helmBin, "helm.sh/helm/v3/cmd/helm"); err != nil {
			return err
		}
	}
	// One small chart; every service finds it under its own name.
	b.chartDir = filepath.Join(work, "charts")
	chart := filepath.Join(root, "test/testdata/charts/carts")
	if err := os.CopyFS(filepath.Join(b.chartDir, "bench"), os.DirFS(chart)); err != nil {
		return err
	}
	for i := range maxN {
		if err := os.Symlink("bench", filepath.Join(b.chartDir, serviceName(i))); err != nil {
			return err
		}
	}
	if o.wants(baselineFlux) {
		if b.flux, err = buildFlux(root); err != nil {
			return err
		}
		if err := installCRDs(ctx, c, b.flux.crds); err != nil {
			return err
		}
		if b.registry, err = startChartRegistry(work, chart); err != nil {
			return err
		}
		defer b.registry.stop()
	}

	ns, err := eventbus.StartEmbedded(eventbus.EmbeddedOptions{Listen: "127.0.0.1:0", DataDir: filepath.Join(work, "nats")})
	if err != nil {
		return err
	}
	defer ns.Shutdown()
	b.natsURL = ns.ClientURL()
	if b.nc, err = nats.Connect(b.natsURL); err != nil {
		return err
	}
	defer b.nc.Close()
	if b.answers, err = listen(b.nc); err != nil {
		return err
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
		b.gitEnv = func(project string) ([]string, error) {
			services := make([]string, maxN)
			for i := range services {
				services[i] = serviceName(i)
			}
			if err := srv.publish(work, project, chart, services, []string{"s", "bg"}); err != nil {
				return nil, err
			}
			return []string{"CHART_SOURCE=git", "CHART_GIT_URL=" + srv.url + "/{{.Project}}.git", "CHART_GIT_CACHE_DIR=" + filepath.Join(work, "git-cache-"+project)}, nil
		}
	}

	var results []result
	stamp := time.Now().Format("150405")
	for _, n := range o.ns {
		for _, conc := range o.concurrency {
			for round := 1; round <= o.repeat; round++ {
				project := fmt.Sprintf("bench%sn%dc%d", stamp, n, conc)
				if o.repeat > 1 {
					project += fmt.Sprintf("r%d", round)
				}
				got, err := b.runOnce(ctx, project, n, conc, round)
				results = append(results, got...)
				if err != nil {
					printResults(o, results)
					return err
				}
			}
		}
	}
	printResults(o, results)
	return nil
}

// runOnce measures helm-service, then each baseline asked for, on n
// services at concurrency conc, in namespaces of its own project, and
// removes those namespaces at the end (unless -keep). round counts the
// runs of the same n and concurrency (-repeat), from 1.
func (b *bench) runOnce(ctx context.Context, project string, n, conc, round int) (results []result, err error) {
	fmt.Printf("\n== %d releases, concurrency %d (project %s)\n", n, conc, project)
	namespaces := []string{project + "-s"}
	if b.o.blueGreen {
		namespaces = append(namespaces, project+"-bg")
	}
	if !b.o.keep {
		defer func() { removeNamespaces(ctx, b.cluster, namespaces) }()
	}
	tag := func(rs ...result) {
		for _, r := range rs {
			r.n, r.concurrency, r.round = n, conc, round
			results = append(results, r)
		}
	}

	hs, err := b.helmService(ctx, project, n, conc, round)
	tag(hs...)
	if err != nil {
		return results, err
	}
	for _, baseline := range []string{baselineFloor, baselineRecords} {
		if !b.o.wants(baseline) {
			continue
		}
		ns := project + "-" + baseline
		namespaces = append(namespaces, ns)
		manifests, err := releaseManifests(ctx, b.cluster, project+"-s")
		if err != nil {
			return results, err
		}
		var records *recordKeeper
		if baseline == baselineRecords {
			recs, err := releaseRecords(ctx, b.cluster, project+"-s")
			if err != nil {
				return results, err
			}
			records = &recordKeeper{c: b.cluster, namespace: ns, records: recs}
		}
		if err := ensureNamespace(ctx, b.cluster, ns); err != nil {
			return results, err
		}
		for rev, phase := range []string{"install", "upgrade"} {
			r, err := chargeCluster(func() (result, error) {
				return floorPhase(ctx, b.cluster, manifests, records, rev, ns, phase, conc, b.o.phaseTimeout)
			})
			if err != nil {
				return results, fmt.Errorf("%s %s: %w", baseline, phase, err)
			}
			tag(r)
		}
	}
	if b.o.wants(baselineCLI) {
		namespaces = append(namespaces, project+"-cli")
		for _, phase := range []struct{ name, image string }{{"install", "example/bench:1"}, {"upgrade", "example/bench:2"}} {
			r, err := chargeCluster(func() (result, error) {
				return helmCLI(ctx, b.helmBin, b.o.kubeconfig, filepath.Join(b.chartDir, "bench"), project+"-cli", phase.name, phase.image, n, conc)
			})
			if err != nil {
				return results, fmt.Errorf("cli %s: %w", phase.name, err)
			}
			tag(r)
		}
	}
	if b.o.wants(baselineFlux) {
		rs, err := b.fluxRun(ctx, project+"-flux", n, conc)
		tag(rs...)
		if err != nil {
			return results, err
		}
	}
	return results, nil
}

// helmService runs helm-service with MAX_PARALLEL_TASKS=conc for the
// installs, the upgrades and, if asked, the blue/green cycles and the
// ignored events, and stops it.
func (b *bench) helmService(ctx context.Context, project string, n, conc, round int) ([]result, error) {
	env := serviceEnv(b.o.serviceEnv,
		"NATS_URL="+b.natsURL, "KUBECONFIG="+b.o.kubeconfig, "CHART_DIR="+b.chartDir,
		"HTTP_ADDR=127.0.0.1:0", fmt.Sprintf("MAX_PARALLEL_TASKS=%d", conc), "LOG_LEVEL="+b.o.logLevel,
	)
	if b.gitEnv != nil {
		git, err := b.gitEnv(project)
		if err != nil {
			return nil, err
		}
		env = append(env, git...)
	}
	if b.o.debugAddr != "" {
		env = append(env, "DEBUG_ADDR="+b.o.debugAddr)
	}
	svc, err := startService(b.binary, filepath.Join(b.work, project+"-service.log"), env)
	if err != nil {
		return nil, err
	}
	defer svc.stop()
	if b.o.logCopy != "" {
		dst := b.o.logCopy
		if len(b.o.ns)*len(b.o.concurrency) > 1 {
			dst += fmt.Sprintf(".n%d-c%d", n, conc)
		}
		if b.o.repeat > 1 {
			dst += fmt.Sprintf(".r%d", round)
		}
		defer func() {
			if err := copyFile(svc.logPath, dst); err != nil {
				fmt.Fprintln(os.Stderr, "bench: keep the service log:", err)
			}
		}()
	}
	var results []result
	for _, phase := range []struct{ name, image string }{{"install", "example/bench:1"}, {"upgrade", "example/bench:2"}} {
		r, err := chargeCluster(func() (result, error) {
			return deployAll(ctx, b.nc, b.answers, svc, project, phase.name, phase.image, n)
		})
		if err != nil {
			return results, fmt.Errorf("%s: %w (service log: %s)", phase.name, err, svc.logPath)
		}
		results = append(results, r)
	}
	if b.o.blueGreen {
		r, err := promoteCycles(ctx, b.nc, b.answers, svc, project, "example/bench:3", n)
		if err != nil {
			return results, fmt.Errorf("blue/green: %w (service log: %s)", err, svc.logPath)
		}
		results = append(results, r)
	}
	if b.o.events > 0 {
		r, err := ignoredEvents(ctx, b.nc, b.answers, svc, b.o.events)
		if err != nil {
			return results, fmt.Errorf("event path: %w", err)
		}
		results = append(results, r)
	}
	return results, nil
}

// serviceEnv returns the bench's settings of helm-service with the -set
// ones in their place: a -set of a key the bench sets replaces it, and
// MAX_PARALLEL_TASKS=default removes it.
func serviceEnv(set []string, own ...string) []string {
	env := slices.Clone(own)
	for _, kv := range set {
		key, value, _ := strings.Cut(kv, "=")
		env = slices.DeleteFunc(env, func(e string) bool { return strings.HasPrefix(e, key+"=") })
		if key == "MAX_PARALLEL_TASKS" && value == "default" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// fluxRun starts Flux's controllers with --concurrent=conc, installs then
// upgrades n HelmReleases in namespace, removes them (with the controllers
// still running, which uninstall them) unless -keep, and stops the
// controllers.
func (b *bench) fluxRun(ctx context.Context, namespace string, n, conc int) ([]result, error) {
	f, err := startFlux(b.flux, b.work, b.o.kubeconfig, conc)
	if err != nil {
		return nil, err
	}
	defer f.stop()
	if !b.o.keep {
		defer removeNamespaces(ctx, b.cluster, []string{namespace})
	}
	if err := ensureNamespace(ctx, b.cluster, namespace); err != nil {
		return nil, err
	}
	var results []result
	for _, phase := range []struct{ name, image string }{{"install", "example/bench:1"}, {"upgrade", "example/bench:2"}} {
		r, err := chargeCluster(func() (result, error) {
			return fluxPhase(ctx, b.cluster, f, b.registry, namespace, phase.name, phase.image, n, b.o.phaseTimeout)
		})
		if err != nil {
			return results, fmt.Errorf("flux %s: %w (logs: %s)", phase.name, err, filepath.Dir(f.helm.logPath))
		}
		results = append(results, r)
	}
	return results, nil
}

// removeNamespaces deletes the namespaces and waits (up to 10 minutes)
// until they are gone, so that the next run starts on an empty cluster.
func removeNamespaces(ctx context.Context, c *cluster, names []string) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	for _, name := range names {
		if err := c.clients.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			fmt.Fprintf(os.Stderr, "bench: delete namespace %s: %v\n", name, err)
		}
	}
	for _, name := range names {
		for {
			_, err := c.clients.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				break
			}
			if ctx.Err() != nil {
				fmt.Fprintf(os.Stderr, "bench: namespace %s is still being deleted; the next run shares the cluster with what is left of it\n", name)
				return
			}
			time.Sleep(time.Second)
		}
	}
}

// result is one measured phase.
type result struct {
	tool        string // helm-service or a baseline
	phase       string
	n           int
	concurrency int
	round       int // which run of this n and concurrency (-repeat), from 1
	failures    int
	wall        time.Duration
	started     []time.Duration // trigger → .started
	finished    []time.Duration // trigger → .finished
	peakRSS     int64           // KiB, of the measured process(es)
	clusterCPU  time.Duration   // CPU time of the local cluster's processes during the phase
	cpu         time.Duration
	// sidePeakRSS and sideCPU are source-controller's, for Flux.
	sidePeakRSS int64
	sideCPU     time.Duration
	note        string
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
	r := result{tool: toolHelmService, phase: phase, n: n}
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
	r := result{tool: toolHelmService, phase: "bg cycle", n: n}
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
		tool: toolHelmService, phase: "ignored events", n: n, wall: wall, cpu: svc.cpu() - cpu0, peakRSS: svc.peakRSS(),
		note: fmt.Sprintf("%.0f events/s", float64(n)/wall.Seconds()),
	}, nil
}

func helmCLI(ctx context.Context, helmBin, kubeconfig, chart, namespace, phase, image string, n, concurrency int) (result, error) {
	fmt.Printf("cli %s: %d releases, %d at a time\n", phase, n, concurrency)
	r := result{tool: toolCLI, phase: phase, n: n}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, concurrency)
	start := time.Now()
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			t0 := time.Now()
			cmd := exec.CommandContext(ctx, helmBin, "upgrade", "--install", serviceName(i), chart,
				"--namespace", namespace, "--create-namespace", "--wait", "--timeout", "5m",
				"--set", "image="+image, "--set", "replicaCount=1", "--kubeconfig", kubeconfig)
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

func repoRoot() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return "", fmt.Errorf("find the repository (run from inside it): %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

func goBuild(root, out, pkg string) error {
	// As the Dockerfile builds the image users run (and as Helm's releases
	// are built): static, without symbol tables and debug information.
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}

// localCluster brings up the local cluster with enough fake nodes for n
// pods (kwok nodes take 110 pods each) and returns its kubeconfig.
func localCluster(root string, o options, n int) (string, func(), error) {
	// Twice the pods a run keeps (kwok nodes hold 110), for the surge
	// pods of rolling upgrades.
	nodes := max(2, (2*podsNeeded(o, n))/110+1)
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

// podsNeeded is how many pods the releases of one run (n services, every
// tool) keep at its end; each run's namespaces are removed before the next.
func podsNeeded(o options, n int) int {
	need := n * (1 + len(o.baselines))
	if o.blueGreen {
		need += 2 * n // primary and canary
	}
	return need
}
