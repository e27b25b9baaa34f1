package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart/loader"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"

	"github.com/helm-service/helm-service/pkg/charts/chartstest"
)

// The Flux objects the baseline makes.
var (
	helmReleaseGVR = schema.GroupVersionResource{Group: "helm.toolkit.fluxcd.io", Version: "v2", Resource: "helmreleases"}
	crdGVR         = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
)

// fluxFieldManager owns the Flux objects the benchmark makes.
const fluxFieldManager = "bench-flux"

// helmChartLayer is the media type of a Helm chart's content in an OCI
// artifact: the layer an OCIRepository hands to helm-controller.
const helmChartLayer = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"

// fluxTools are Flux's controllers, built by test/bench/flux/flux.sh, and
// the CRD files of their modules.
type fluxTools struct {
	binDir string
	crds   []string
}

func buildFlux(root string) (fluxTools, error) {
	fmt.Println("building Flux's helm-controller and source-controller (test/bench/flux/flux.sh build; cached once built)")
	script := filepath.Join(root, "test/bench/flux/flux.sh")
	cmd := exec.Command(script, "build")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return fluxTools{}, fmt.Errorf("build Flux's controllers: %w", err)
	}
	lines := strings.Fields(strings.TrimSpace(string(out)))
	if len(lines) == 0 {
		return fluxTools{}, errors.New("build Flux's controllers: flux.sh build printed no bin dir")
	}
	crds := exec.Command(script, "crds")
	crds.Stderr = os.Stderr
	list, err := crds.Output()
	if err != nil {
		return fluxTools{}, fmt.Errorf("find Flux's CRDs: %w", err)
	}
	return fluxTools{binDir: lines[len(lines)-1], crds: strings.Fields(string(list))}, nil
}

// installCRDs applies Flux's CRDs and waits until the API server serves
// them.
func installCRDs(ctx context.Context, c *cluster, files []string) error {
	var names []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		objs, err := decodeObjects(data)
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		for _, obj := range objs {
			if _, err := c.apply(ctx, obj, "", fluxFieldManager); err != nil {
				return fmt.Errorf("install Flux's CRDs: %w", err)
			}
			names = append(names, obj.GetName())
		}
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for _, name := range names {
		for {
			crd, err := c.dynamic.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
			if err == nil && conditionTrue(crd, "Established") {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("CRD %s not established: %w", name, ctx.Err())
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	c.mapper.Reset()
	return nil
}

// conditionTrue says whether obj's status has condition typ True.
func conditionTrue(obj *unstructured.Unstructured, typ string) bool {
	c, ok := condition(obj, typ)
	return ok && c["status"] == "True"
}

func condition(obj *unstructured.Unstructured, typ string) (map[string]any, bool) {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == typ {
			return m, true
		}
	}
	return nil, false
}

// chartRegistry serves the benchmark's chart to Flux from an OCI registry
// on loopback, the one the tests run (chartstest), as Flux's users serve
// charts.
type chartRegistry struct {
	host string // host:port
	repo string // repository of the chart: <host>/<repo>:<version>
	tag  string
	stop func()
}

func startChartRegistry(work, chartDir string) (reg *chartRegistry, err error) {
	tb := &runTB{dir: work}
	defer func() {
		if p := recover(); p != nil {
			tb.close()
			reg, err = nil, fmt.Errorf("serve the chart from a registry: %v", p)
		}
	}()
	ch, err := loader.Load(chartDir)
	if err != nil {
		return nil, err
	}
	r := chartstest.StartRegistry(tb, chartstest.RegistryOptions{})
	repo := "bench/" + ch.Metadata.Name
	r.Push(tb, repo, ch)
	return &chartRegistry{host: r.Host, repo: repo, tag: ch.Metadata.Version, stop: tb.close}, nil
}

// runTB lets the benchmark, which is no test, run chartstest's registry:
// it gives the few testing.TB methods chartstest calls (the others would
// panic on the nil TB inside), and its failures panic, to be recovered.
type runTB struct {
	testing.TB
	dir      string
	mu       sync.Mutex
	cleanups []func()
}

func (t *runTB) Helper() {}

func (t *runTB) TempDir() string {
	dir, err := os.MkdirTemp(t.dir, "registry-")
	if err != nil {
		panic(err)
	}
	return dir
}

func (t *runTB) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}

func (t *runTB) Fatal(args ...any)                 { panic(fmt.Sprint(args...)) }
func (t *runTB) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

func (t *runTB) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
	t.cleanups = nil
}

// fluxControllers are helm-controller and source-controller running as
// processes against the cluster's kubeconfig.
type fluxControllers struct {
	helm, source *service
}

// startFlux starts both controllers with --concurrent set to concurrency
// and Flux's defaults otherwise; source-controller serves its artifacts on
// a loopback port that helm-controller fetches them from.
func startFlux(tools fluxTools, work, kubeconfig string, concurrency int) (*fluxControllers, error) {
	dir, err := os.MkdirTemp(work, fmt.Sprintf("flux-c%d-", concurrency))
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	storage, srcHealth, helmHealth := ports[0], ports[1], ports[2]
	artifacts := filepath.Join(dir, "artifacts") // source-controller wants it made
	if err := os.Mkdir(artifacts, 0o700); err != nil {
		return nil, err
	}
	env := []string{"KUBECONFIG=" + kubeconfig}
	common := func(health string) []string {
		return []string{fmt.Sprintf("--concurrent=%d", concurrency), "--metrics-addr=0", "--health-addr=" + health, "--log-level=info"}
	}
	src, err := startProcess("source-controller", filepath.Join(tools.binDir, "source-controller"),
		append(common(srcHealth), "--storage-path="+artifacts, "--storage-addr="+storage, "--storage-adv-addr="+storage),
		filepath.Join(dir, "source-controller.log"), env, healthy(srcHealth))
	if err != nil {
		return nil, err
	}
	hc, err := startProcess("helm-controller", filepath.Join(tools.binDir, "helm-controller"), common(helmHealth),
		filepath.Join(dir, "helm-controller.log"), env, healthy(helmHealth))
	if err != nil {
		src.stop()
		return nil, err
	}
	return &fluxControllers{helm: hc, source: src}, nil
}

func (f *fluxControllers) stop() {
	f.helm.stop()
	f.source.stop()
}

// healthy reports whether a controller's health endpoint on addr says it
// is ready.
func healthy(addr string) func() bool {
	client := &http.Client{Timeout: time.Second}
	return func() bool {
		resp, err := client.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
}

// freePorts returns n loopback addresses that were free a moment ago.
func freePorts(n int) ([]string, error) {
	var out []string
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	return out, nil
}

// ociRepository is the one source of every HelmRelease: the chart in the
// registry, by tag, over plain HTTP.
func ociRepository(reg *chartRegistry) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
		"metadata": map[string]any{"name": "bench"},
		"spec": map[string]any{
			"interval": "1h", "url": "oci://" + reg.host + "/" + reg.repo, "insecure": true,
			"ref":           map[string]any{"tag": reg.tag},
			"layerSelector": map[string]any{"mediaType": helmChartLayer, "operation": "copy"},
		},
	}}
}

// helmRelease is service name's HelmRelease: the chart of the
// OCIRepository with the values helm-service's triggers give, installed
// into the HelmRelease's own namespace under the service's name.
func helmRelease(name, image string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
		"metadata": map[string]any{"name": name},
		"spec": map[string]any{
			"interval":    "1h",
			"releaseName": name,
			"chartRef":    map[string]any{"kind": "OCIRepository", "name": "bench"},
			"values":      map[string]any{"image": image, "replicaCount": int64(1)},
		},
	}}
}

// fluxPhase creates (install) or changes (upgrade) n HelmReleases in
// namespace, the OCIRepository first on install, and waits until every one
// is Ready for its new generation: helm-controller's own wait (kstatus)
// holds Ready back until every replica is ready. Wall time runs from the
// first object applied to the last Ready=True.
func fluxPhase(ctx context.Context, c *cluster, f *fluxControllers, reg *chartRegistry, namespace, phase, image string, n int, timeout time.Duration) (result, error) {
	fmt.Printf("flux %s: %d HelmReleases\n", phase, n)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tr, err := trackHelmReleases(ctx, c, namespace, n)
	if err != nil {
		return result{}, err
	}
	helmCPU0, srcCPU0 := f.helm.cpu(), f.source.cpu()
	start := time.Now()
	if phase == "install" {
		if _, err := c.apply(ctx, ociRepository(reg), namespace, fluxFieldManager); err != nil {
			return result{}, err
		}
	}
	// Apply from a few goroutines, so that making 1000 objects takes the
	// API server's time, not the benchmark's.
	names := make(chan string)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range min(n, 16) {
		wg.Go(func() {
			for name := range names {
				applied, err := c.apply(ctx, helmRelease(name, image), namespace, fluxFieldManager)
				if err != nil {
					errs <- err
					continue
				}
				tr.expect(name, applied.GetGeneration(), time.Now())
			}
		})
	}
	for i := range n {
		names <- serviceName(i)
	}
	close(names)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return result{}, err
	}
	r := result{tool: toolFlux, phase: phase, n: n}
	done := tr.wait(ctx)
	r.wall = time.Since(start)
	r.cpu, r.sideCPU = f.helm.cpu()-helmCPU0, f.source.cpu()-srcCPU0
	r.peakRSS, r.sidePeakRSS = f.helm.peakRSS(), f.source.peakRSS()
	for _, d := range done {
		r.finished = append(r.finished, d.took)
		if d.failure != "" {
			r.failures++
			if r.note == "" {
				r.note = "first failure: " + d.failure
			}
		}
	}
	if missing := n - len(done); missing > 0 {
		r.failures += missing
		r.note = fmt.Sprintf("%d not Ready after %s; %s", missing, timeout, r.note)
	}
	return r, nil
}

// helmReleaseTracker records when each expected HelmRelease became Ready
// (or failed) for the generation it is expected at.
type helmReleaseTracker struct {
	lister   cache.GenericNamespaceLister
	mu       sync.Mutex
	expected map[string]expectation
	done     map[string]outcome
	allDone  chan struct{}
	want     int // how many are expected in all
}

type expectation struct {
	generation int64
	since      time.Time
}

type outcome struct {
	took    time.Duration
	failure string
}

func trackHelmReleases(ctx context.Context, c *cluster, namespace string, want int) (*helmReleaseTracker, error) {
	factory := dynamicinformer.NewFilteredDynamicSharedInformerFactory(c.dynamic, 0, namespace, nil)
	inf := factory.ForResource(helmReleaseGVR)
	t := &helmReleaseTracker{lister: inf.Lister().ByNamespace(namespace), expected: map[string]expectation{}, done: map[string]outcome{}, allDone: make(chan struct{}), want: want}
	check := func(obj any) {
		if u, ok := obj.(*unstructured.Unstructured); ok {
			t.check(u)
		}
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: check, UpdateFunc: func(_, obj any) { check(obj) }}); err != nil {
		return nil, err
	}
	factory.Start(ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return nil, fmt.Errorf("watch %v in %s: cache did not sync", typ, namespace)
		}
	}
	return t, nil
}

// expect starts waiting for HelmRelease name at generation, applied at
// since.
func (t *helmReleaseTracker) expect(name string, generation int64, since time.Time) {
	t.mu.Lock()
	t.expected[name] = expectation{generation, since}
	t.mu.Unlock()
	// It may have been reconciled before it was expected.
	if obj, err := t.lister.Get(name); err == nil {
		if u, ok := obj.(*unstructured.Unstructured); ok {
			t.check(u)
		}
	}
}

func (t *helmReleaseTracker) check(u *unstructured.Unstructured) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	exp, ok := t.expected[u.GetName()]
	if !ok {
		return
	}
	if _, finished := t.done[u.GetName()]; finished {
		return
	}
	ready, ok := condition(u, "Ready")
	if !ok {
		return
	}
	observed, _, _ := unstructured.NestedInt64(ready, "observedGeneration")
	if observed < exp.generation {
		return
	}
	// Failed installs and upgrades are final (Flux's default remediation
	// retries neither); ArtifactFailed and the like are retried.
	switch reason, _ := ready["reason"].(string); {
	case ready["status"] == "True":
		t.done[u.GetName()] = outcome{took: now.Sub(exp.since)}
	case ready["status"] == "False" && (reason == "InstallFailed" || reason == "UpgradeFailed" || conditionTrue(u, "Stalled")):
		msg, _ := ready["message"].(string)
		t.done[u.GetName()] = outcome{took: now.Sub(exp.since), failure: u.GetName() + ": " + reason + ": " + msg}
	default:
		return
	}
	if len(t.done) == t.want {
		close(t.allDone)
	}
}

// wait blocks until every expected HelmRelease is done or ctx ends, and
// returns the outcomes so far.
func (t *helmReleaseTracker) wait(ctx context.Context) map[string]outcome {
	select {
	case <-t.allDone:
	case <-ctx.Done():
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]outcome, len(t.done))
	for k, v := range t.done {
		out[k] = v
	}
	return out
}
