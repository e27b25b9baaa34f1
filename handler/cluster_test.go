package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	helmtime "helm.sh/helm/v3/pkg/time"

	"github.com/helm-service/helm-service/eventbus"
	"github.com/helm-service/helm-service/pkg/charts"
	"github.com/helm-service/helm-service/pkg/deployed"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/helm/reconcile"
	"github.com/helm-service/helm-service/pkg/kube"
	"github.com/helm-service/helm-service/pkg/routing"
	"github.com/helm-service/helm-service/pkg/vargroups"
)

// testCluster is what the task tests run on instead of a cluster: Helm's
// release records in memory, kept by the real Helm SDK (helm.Client
// wrapped in reconcile.Releases, as the service runs it), and the
// Deployments, StatefulSets and Services of every revision Helm starts in
// a client-go fake clientset, where they are read, scaled and routed by the
// real kube.Scaler and routing.ServiceRouter. The fake clientset stands in
// for the controllers too: a Deployment runs its replicas, all ready,
// unless the test says its pods never become ready.
type testCluster struct {
	t         *testing.T
	clientset *fake.Clientset
	// kube is Helm's Kubernetes client: it applies nothing (the records'
	// objects reach the clientset through the storage driver) and its
	// WaitError fails the wait of every install, upgrade and rollback.
	kube *kubefake.FailingKubeClient
	// records are the release records of every namespace.
	records  *driver.Memory
	recordMu sync.Mutex
	releases *reconcile.Releases

	mu sync.Mutex
	// stuck are the Deployments (namespace/name) whose pods never become
	// ready.
	stuck map[string]bool
	// started are the revisions Helm started, in order, as name.vN.
	started []string
	// uninstalled are the releases whose last record was deleted, in
	// order, as namespace/name.
	uninstalled []string
	// refusals are the reads of release records the API server refuses.
	refusals []refusal
}

// refusal is a read of release records the API server refuses: the
// listing of a namespace's records (name empty), or the history of one
// release.
type refusal struct {
	namespace, name string
	err             error
}

// refuse has the API server refuse reads of release records with err:
// listing those of namespace (every namespace for helm.AllNamespaces) when
// name is empty, else reading the history of release namespace/name.
func (c *testCluster) refuse(namespace, name string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refusals = append(c.refusals, refusal{namespace: namespace, name: name, err: err})
}

func (c *testCluster) refused(namespace, name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.refusals {
		if r.namespace == namespace && r.name == name {
			return r.err
		}
	}
	return nil
}

func newTestCluster(t *testing.T) *testCluster {
	t.Helper()
	c := &testCluster{
		t:         t,
		clientset: fake.NewClientset(),
		kube:      &kubefake.FailingKubeClient{PrintingKubeClient: kubefake.PrintingKubeClient{Out: io.Discard}},
		stuck:     map[string]bool{},
	}
	c.records = driver.NewMemory()
	configs := func(_ context.Context, namespace string) (*action.Configuration, error) {
		return &action.Configuration{Releases: c.storage(namespace), KubeClient: c.kube, Capabilities: chartutil.DefaultCapabilities, Log: func(string, ...any) {}}, nil
	}
	c.releases = reconcile.New(helm.NewClientOn(configs, quiet), reconcile.DefaultPendingAge, quiet)
	c.serveScale()
	return c
}

func (c *testCluster) scaler() kube.Scaler { return kube.Scaler{Clientset: c.clientset} }

func (c *testCluster) router() routing.ServiceRouter {
	return routing.ServiceRouter{Clientset: c.clientset}
}

// storage is Helm's storage of the release records of namespace
// (helm.AllNamespaces: of every namespace), as a Secrets driver of that
// namespace would read them.
func (c *testCluster) storage(namespace string) *storage.Storage {
	return storage.Init(&namespacedDriver{cluster: c, namespace: namespace})
}

// namespacedDriver is Helm's memory driver, shared by every namespace,
// seen from one namespace. It stores a release as Helm's Secrets driver
// does (encoded: a chart without its subcharts, say), and starts the
// objects of every revision Helm starts (stores as pending) in the
// cluster, as Helm applies a revision's manifest before it waits for it.
type namespacedDriver struct {
	cluster   *testCluster
	namespace string
}

// memory returns the shared memory driver set to the driver's namespace,
// and its unlock.
func (d *namespacedDriver) memory() (*driver.Memory, func()) {
	d.cluster.recordMu.Lock()
	d.cluster.records.SetNamespace(d.namespace)
	return d.cluster.records, d.cluster.recordMu.Unlock
}

func (d *namespacedDriver) Name() string { return driver.MemoryDriverName }

func (d *namespacedDriver) Get(key string) (*release.Release, error) {
	mem, unlock := d.memory()
	defer unlock()
	return mem.Get(key)
}

func (d *namespacedDriver) List(filter func(*release.Release) bool) ([]*release.Release, error) {
	if err := d.cluster.refused(d.namespace, ""); err != nil {
		return nil, err
	}
	mem, unlock := d.memory()
	defer unlock()
	return mem.List(filter)
}

func (d *namespacedDriver) Query(labels map[string]string) ([]*release.Release, error) {
	if err := d.cluster.refused(d.namespace, labels["name"]); labels["name"] != "" && err != nil {
		return nil, err
	}
	mem, unlock := d.memory()
	defer unlock()
	return mem.Query(labels)
}

// Delete deletes a record; Helm's uninstall deletes the objects of the
// release with its last one.
func (d *namespacedDriver) Delete(key string) (*release.Release, error) {
	mem, unlock := d.memory()
	rls, err := mem.Delete(key)
	var left []*release.Release
	if err == nil {
		left, err = mem.List(func(r *release.Release) bool { return r.Name == rls.Name })
	}
	unlock()
	if err != nil || len(left) > 0 {
		return rls, err
	}
	return rls, d.cluster.remove(rls)
}

func (d *namespacedDriver) Create(key string, rls *release.Release) error {
	stored, err := asStored(rls)
	if err != nil {
		return err
	}
	mem, unlock := d.memory()
	err = mem.Create(key, stored)
	unlock()
	if err != nil {
		return err
	}
	if rls.Info != nil && rls.Info.Status.IsPending() {
		return d.cluster.apply(rls)
	}
	return nil
}

func (d *namespacedDriver) Update(key string, rls *release.Release) error {
	stored, err := asStored(rls)
	if err != nil {
		return err
	}
	mem, unlock := d.memory()
	defer unlock()
	return mem.Update(key, stored)
}

// asStored is rls as it reads back from Helm's Secrets driver: encoded as
// JSON, with the labels beside it.
func asStored(rls *release.Release) (*release.Release, error) {
	raw, err := json.Marshal(rls)
	if err != nil {
		return nil, err
	}
	var out release.Release
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, err
	}
	out.Labels = maps.Clone(rls.Labels)
	return &out, nil
}

// startedSince returns the revisions Helm started after the first n.
func (c *testCluster) startedSince(n int) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.started) == n {
		return nil
	}
	return slices.Clone(c.started[n:])
}

var (
	deployments  = appsv1.SchemeGroupVersion.WithResource("deployments")
	statefulsets = appsv1.SchemeGroupVersion.WithResource("statefulsets")
	services     = corev1.SchemeGroupVersion.WithResource("services")
)

// apply creates or updates the Deployments, StatefulSets and Services of a
// revision's manifest. Annotations others put on an object are kept, as a
// Helm three-way merge keeps them.
func (c *testCluster) apply(rls *release.Release) error {
	c.mu.Lock()
	c.started = append(c.started, fmt.Sprintf("%s.v%d", rls.Name, rls.Version))
	c.mu.Unlock()
	for _, doc := range strings.Split(rls.Manifest, "\n---") {
		var head struct {
			Kind     string            `json:"kind"`
			Metadata metav1.ObjectMeta `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			return err
		}
		var obj runtime.Object
		var gvr schema.GroupVersionResource
		switch head.Kind {
		case "Deployment":
			d := &appsv1.Deployment{}
			obj, gvr = d, deployments
			if err := yaml.Unmarshal([]byte(doc), d); err != nil {
				return err
			}
		case "StatefulSet":
			s := &appsv1.StatefulSet{}
			obj, gvr = s, statefulsets
			if err := yaml.Unmarshal([]byte(doc), s); err != nil {
				return err
			}
		case "Service":
			s := &corev1.Service{}
			obj, gvr = s, services
			if err := yaml.Unmarshal([]byte(doc), s); err != nil {
				return err
			}
		default:
			continue
		}
		meta := obj.(metav1.Object)
		if meta.GetNamespace() == "" {
			meta.SetNamespace(rls.Namespace)
		}
		c.run(obj)
		tracker := c.clientset.Tracker()
		cur, err := tracker.Get(gvr, meta.GetNamespace(), meta.GetName())
		if apierrors.IsNotFound(err) {
			if err := tracker.Create(gvr, obj, meta.GetNamespace()); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		annotations := cur.(metav1.Object).GetAnnotations()
		for k, v := range meta.GetAnnotations() {
			if annotations == nil {
				annotations = map[string]string{}
			}
			annotations[k] = v
		}
		meta.SetAnnotations(annotations)
		if err := tracker.Update(gvr, obj, meta.GetNamespace()); err != nil {
			return err
		}
	}
	return nil
}

// remove deletes the Deployments, StatefulSets and Services of a
// revision's manifest.
func (c *testCluster) remove(rls *release.Release) error {
	c.mu.Lock()
	c.uninstalled = append(c.uninstalled, rls.Namespace+"/"+rls.Name)
	c.mu.Unlock()
	for _, doc := range strings.Split(rls.Manifest, "\n---") {
		var head struct {
			Kind     string            `json:"kind"`
			Metadata metav1.ObjectMeta `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			return err
		}
		gvr, ok := map[string]schema.GroupVersionResource{"Deployment": deployments, "StatefulSet": statefulsets, "Service": services}[head.Kind]
		if !ok {
			continue
		}
		namespace := head.Metadata.Namespace
		if namespace == "" {
			namespace = rls.Namespace
		}
		if err := c.clientset.Tracker().Delete(gvr, namespace, head.Metadata.Name); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// run is the controllers' work on a workload: it runs its replicas, all
// ready and updated, unless its pods never become ready.
func (c *testCluster) run(obj runtime.Object) {
	c.mu.Lock()
	defer c.mu.Unlock()
	want := func(r *int32) int32 {
		if r == nil {
			return 1
		}
		return *r
	}
	switch o := obj.(type) {
	case *appsv1.Deployment:
		if c.stuck[o.Namespace+"/"+o.Name] {
			return
		}
		n := want(o.Spec.Replicas)
		o.Status = appsv1.DeploymentStatus{ObservedGeneration: o.Generation, Replicas: n, ReadyReplicas: n, UpdatedReplicas: n, AvailableReplicas: n}
	case *appsv1.StatefulSet:
		n := want(o.Spec.Replicas)
		o.Status = appsv1.StatefulSetStatus{ObservedGeneration: o.Generation, Replicas: n, ReadyReplicas: n, UpdatedReplicas: n, AvailableReplicas: n}
	}
}

// neverReady makes the pods of Deployment namespace/name never become
// ready, from now on.
func (c *testCluster) neverReady(namespace, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stuck[namespace+"/"+name] = true
}

// serveScale serves the scale subresource of Deployments and StatefulSets
// from their spec, as the API server does, and lets the controllers run
// the new count.
func (c *testCluster) serveScale() {
	tracker := c.clientset.Tracker()
	replicas := func(gvr schema.GroupVersionResource, ns, name string) (runtime.Object, *int32, error) {
		obj, err := tracker.Get(gvr, ns, name)
		if err != nil {
			return nil, nil, err
		}
		switch o := obj.(type) {
		case *appsv1.Deployment:
			if o.Spec.Replicas == nil {
				o.Spec.Replicas = new(int32)
				*o.Spec.Replicas = 1
			}
			return o, o.Spec.Replicas, nil
		case *appsv1.StatefulSet:
			if o.Spec.Replicas == nil {
				o.Spec.Replicas = new(int32)
				*o.Spec.Replicas = 1
			}
			return o, o.Spec.Replicas, nil
		}
		return nil, nil, errors.New("no scale subresource")
	}
	for _, gvr := range []schema.GroupVersionResource{deployments, statefulsets} {
		c.clientset.PrependReactor("get", gvr.Resource, func(a k8stesting.Action) (bool, runtime.Object, error) {
			g := a.(k8stesting.GetAction)
			if g.GetSubresource() != "scale" {
				return false, nil, nil
			}
			_, n, err := replicas(gvr, g.GetNamespace(), g.GetName())
			if err != nil {
				return true, nil, err
			}
			return true, &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: g.GetName(), Namespace: g.GetNamespace()}, Spec: autoscalingv1.ScaleSpec{Replicas: *n}}, nil
		})
		c.clientset.PrependReactor("update", gvr.Resource, func(a k8stesting.Action) (bool, runtime.Object, error) {
			u := a.(k8stesting.UpdateAction)
			if u.GetSubresource() != "scale" {
				return false, nil, nil
			}
			s := u.GetObject().(*autoscalingv1.Scale)
			obj, n, err := replicas(gvr, u.GetNamespace(), s.Name)
			if err != nil {
				return true, nil, err
			}
			*n = s.Spec.Replicas
			c.run(obj)
			return true, s, tracker.Update(gvr, obj, u.GetNamespace())
		})
	}
}

// setReplicas scales Deployment namespace/name as an operator would, and
// records the count a scaling keeps when kept is set.
func (c *testCluster) setReplicas(namespace, name string, replicas int32, kept bool) {
	c.t.Helper()
	w := kube.Workload{Kind: "Deployment", Namespace: namespace, Name: name}
	ctx := context.Background()
	if kept {
		cur, err := c.scaler().Replicas(ctx, w)
		if err != nil {
			c.t.Fatal(err)
		}
		if _, err := c.scaler().ScaleBy(ctx, w, replicas-cur, 100); err != nil {
			c.t.Fatal(err)
		}
		return
	}
	if err := c.scaler().Scale(ctx, []kube.Workload{w}, replicas); err != nil {
		c.t.Fatal(err)
	}
}

// autoscale has a HorizontalPodAutoscaler named name target Deployment
// namespace/workload.
func (c *testCluster) autoscale(namespace, name, workload string) {
	c.t.Helper()
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: workload},
			MaxReplicas:    5,
		},
	}
	if _, err := c.clientset.AutoscalingV2().HorizontalPodAutoscalers(namespace).Create(context.Background(), hpa, metav1.CreateOptions{}); err != nil {
		c.t.Fatal(err)
	}
}

// routedTo returns the side the stable Service of carts selects, "" when
// there is none.
func (c *testCluster) routedTo(namespace, stable string) string {
	c.t.Helper()
	svc, err := c.clientset.CoreV1().Services(namespace).Get(context.Background(), stable, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return ""
	}
	if err != nil {
		c.t.Fatal(err)
	}
	return svc.Labels[routing.LabelRoutedTo]
}

// revision describes one revision deployed into the cluster by
// testCluster.deploy.
type revision struct {
	// name is the release: carts, carts-primary or carts-canary.
	name string
	// strategy is the strategy label; none when empty.
	strategy string
	// image is the chart's image value, and tells revisions apart.
	image string
	// keptnContext is the Keptn context label; none when empty.
	keptnContext string
	// fails makes the revision's wait fail: it is stored as failed.
	fails bool
	// chart is the chart; test/testdata/charts/carts when nil.
	chart *chart.Chart
	// labels are more labels of its record.
	labels map[string]string
	// namespace is the release's; ns when empty.
	namespace string
}

// deploy installs or upgrades the revisions (in namespace ns unless they
// say) through the real Helm SDK, labelled as helm-service labels service carts of project
// sockshop in stage staging.
func (c *testCluster) deploy(revisions ...revision) {
	c.t.Helper()
	for _, r := range revisions {
		namespace := r.namespace
		if namespace == "" {
			namespace = ns
		}
		labels := map[string]string{kube.LabelProject: "sockshop", kube.LabelStage: strings.TrimPrefix(namespace, "sockshop-"), kube.LabelService: "carts"}
		var objectLabels map[string]string
		if side, ok := strings.CutPrefix(r.name, "carts-"); ok {
			labels = deployed.RecordLabels(labels, deployed.Side(side))
			objectLabels = deployed.ObjectLabels("carts", deployed.Side(side))
		}
		if r.strategy != "" {
			labels[kube.LabelStrategy] = r.strategy
		}
		if r.keptnContext != "" {
			labels[kube.LabelContext] = r.keptnContext
		}
		for k, v := range r.labels {
			labels[k] = v
		}
		ch := r.chart
		if ch == nil {
			ch = cartsChart(c.t)
		}
		c.kube.WaitError = nil
		if r.fails {
			c.kube.WaitError = errors.New("pods not ready")
		}
		_, err := c.releases.Upgrade(context.Background(), helm.Request{
			Namespace: namespace, Name: r.name, Chart: ch, Labels: labels, ObjectLabels: objectLabels, Timeout: time.Minute,
			Values: map[string]any{"image": r.image, "replicaCount": 2, "service": map[string]any{"port": 80, "targetPort": 8080}, "config": map[string]any{"greeting": r.image}},
		})
		c.kube.WaitError = nil
		if r.fails != (err != nil) {
			c.t.Fatalf("deploy %s %s: error %v, want failure %v", r.name, r.image, err, r.fails)
		}
	}
}

// leavePending stores a revision of carts as a process killed
// mid-operation leaves it: pending, started age ago, its objects applied.
func (c *testCluster) leavePending(version int, status release.Status, age time.Duration, labels map[string]string) {
	c.t.Helper()
	records := c.storage(ns)
	prev, err := records.Get("carts", version-1)
	if err != nil {
		c.t.Fatal(err)
	}
	rel := &release.Release{
		Name: "carts", Namespace: ns, Version: version, Chart: prev.Chart, Config: prev.Config, Manifest: prev.Manifest, Labels: labels,
		Info: &release.Info{Status: status, LastDeployed: helmtime.Time{Time: time.Now().Add(-age)}},
	}
	if err := records.Create(rel); err != nil {
		c.t.Fatal(err)
	}
}

// record returns the newest revision of release name.
func (c *testCluster) record(name string) *helm.Record {
	c.t.Helper()
	r, err := c.releases.Get(context.Background(), ns, name)
	if err != nil {
		c.t.Fatal(err)
	}
	return r
}

func cartsChart(t *testing.T) *chart.Chart {
	t.Helper()
	ch, err := loader.Load("../test/testdata/charts/carts")
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// withForeignWorkload is the carts chart with a Deployment in namespace
// kube-system too, as a chart may render one.
func withForeignWorkload(t *testing.T) *chart.Chart {
	ch := cartsChart(t)
	ch.Templates = append(ch.Templates, &chart.File{Name: "templates/coredns.yaml", Data: []byte(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: coredns
  namespace: kube-system
spec:
  replicas: 2
  selector:
    matchLabels: {app: coredns}
  template:
    metadata:
      labels: {app: coredns}
    spec:
      containers:
        - name: coredns
          image: coredns:1
`)})
	return ch
}

// routeToCanary routes the stable Service of carts to its canary, as a
// deployment of the canary in route mode canary leaves it.
func (c *testCluster) routeToCanary() {
	c.t.Helper()
	if err := c.router().Route(context.Background(), stableTarget(80), routing.AllCanary); err != nil {
		c.t.Fatal(err)
	}
}

// clusterState is what the tasks change in the cluster, for comparison.
type clusterState struct {
	// Releases are the newest revisions of the releases in ns, by name.
	Releases map[string]releaseState
	// Workloads are the Deployments in every namespace, by namespace/name.
	Workloads map[string]workloadState
	// RoutedTo is the side the stable Service carts selects.
	RoutedTo string
}

type releaseState struct {
	Revision int
	Status   string
	// Image is the image value the revision was rendered with.
	Image string
	// Side is the record's blue/green side label.
	Side string
}

type workloadState struct {
	Replicas int32
	// Kept is the count a scaling recorded on it.
	Kept string
	// Side is the object's blue/green side label.
	Side string
}

func (c *testCluster) state() clusterState {
	c.t.Helper()
	ctx := context.Background()
	out := clusterState{Releases: map[string]releaseState{}, Workloads: map[string]workloadState{}, RoutedTo: c.routedTo(ns, "carts")}
	records, err := c.releases.Find(ctx, ns, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	for _, r := range records {
		image, _ := r.Values["image"].(string)
		out.Releases[r.Name] = releaseState{Revision: r.Revision, Status: r.Status, Image: image, Side: r.Labels[kube.LabelDeployment]}
	}
	list, err := c.clientset.AppsV1().Deployments(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	for _, d := range list.Items {
		n := int32(1)
		if d.Spec.Replicas != nil {
			n = *d.Spec.Replicas
		}
		out.Workloads[d.Namespace+"/"+d.Name] = workloadState{Replicas: n, Kept: d.Annotations[kube.AnnotationReplicas], Side: d.Labels[kube.LabelDeployment]}
	}
	return out
}

// Publish implements Publisher: the recorder keeps what is published.
func (r *recorder) Publish(_ context.Context, e cloudevents.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return nil
}

// reset forgets what was published so far.
func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = nil
}

// taskFixture runs the deployment (with the charts of
// test/testdata/charts), release, rollback, scaling and service removal
// tasks in a dispatcher, on a testCluster.
type taskFixture struct {
	cluster    *testCluster
	published  *recorder
	dispatcher *Dispatcher
}

// taskOptions change a taskFixture: the settings of its tasks, and
// collaborators that replace the cluster's (nil: the cluster's).
type taskOptions struct {
	deployment *DeploymentSettings
	lifecycle  *LifecycleSettings
	action     *ActionSettings
	// variables gives the deployment and release tasks the variable
	// groups, kept in the cluster.
	variables bool
	// removal are the service removal's settings; deleteSettings when
	// nil.
	removal *ServiceDeleteSettings
	// charts is where the deployment task finds charts;
	// test/testdata/charts when empty.
	charts   string
	releases Releases
	router   Router
	// ownership, when set, checks the namespaces and releases of each
	// task, adopting those these globs match.
	ownership *ownershipGlobs
}

// ownershipGlobs are the ADOPT_NAMESPACES and ADOPT_RELEASES of a
// taskFixture.
type ownershipGlobs struct{ namespaces, releases string }

func newTaskFixture(t *testing.T, o taskOptions) *taskFixture {
	t.Helper()
	c := newTestCluster(t)
	ds, ls, as := settings, lifecycleSettings, scalingSettings
	if o.deployment != nil {
		ds = *o.deployment
	}
	if o.lifecycle != nil {
		ls = *o.lifecycle
	}
	if o.action != nil {
		as = *o.action
	}
	var releases Releases = c.releases
	if o.releases != nil {
		releases = o.releases
	}
	var router Router = c.router()
	if o.router != nil {
		router = o.router
	}
	scaler := c.scaler()
	rec := &recorder{}
	root := o.charts
	if root == "" {
		root = "../test/testdata/charts"
	}
	dep := NewDeployment(charts.Dir{Root: root}, kube.Namespaces{Clientset: c.clientset}, releases, router, scaler, ds)
	rel := NewRelease(releases, router, scaler, ls)
	rs := deleteSettings
	if o.removal != nil {
		rs = *o.removal
	}
	del := NewServiceDelete(releases, router, kube.Namespaces{Clientset: c.clientset}, rs)
	if o.ownership != nil {
		del.WithOwnership(kube.Namespaces{Clientset: c.clientset})
	}
	if o.variables {
		vars := vargroups.Store{Clientset: c.clientset}
		dep.WithVariables(vars)
		rel.WithVariables(vars)
		del.WithVariables(vars)
	}
	tasks := []Task{dep, rel, NewRollback(releases, router, scaler, ls), NewAction(releases, router, scaler, scaler, as), del}
	var opts Options
	if o.ownership != nil {
		opts.Ownership = &Ownership{
			Namespaces:     kube.Namespaces{Clientset: c.clientset},
			Releases:       releases,
			AdoptNamespace: mustOptIn(t, o.ownership.namespaces).Matches,
			AdoptRelease:   mustOptIn(t, o.ownership.releases).Matches,
		}
	}
	return &taskFixture{cluster: c, published: rec, dispatcher: NewDispatcher("helm-service", rec, quiet, tasks, opts)}
}

func (f *taskFixture) deliver(e *cloudevents.Event) {
	f.dispatcher.Handle(context.Background(), eventbus.Delivery{Subject: e.Type(), Event: e})
}

// unreachableReleases are Releases whose every read fails as an API
// server that cannot be reached does.
func unreachableReleases() Releases { return failingReleases(errors.New("connection refused")) }

// failingReleases are Releases whose every action fails with err before it
// reaches the release records.
func failingReleases(err error) Releases {
	configs := func(context.Context, string) (*action.Configuration, error) {
		return nil, err
	}
	return reconcile.New(helm.NewClientOn(configs, quiet), reconcile.DefaultPendingAge, quiet)
}
