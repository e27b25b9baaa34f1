package main

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/releaseutil"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// floorFieldManager owns the floor's objects.
const floorFieldManager = "bench-floor"

// releaseManifests reads the manifests helm-service deployed in namespace
// from its release records (Helm's Secrets: the chart rendered with the
// trigger's values and through helm-service's post-renderers): for every
// release, its revisions' manifests, oldest first.
func releaseManifests(ctx context.Context, c *cluster, namespace string) (map[string][]string, error) {
	store := storage.Init(driver.NewSecrets(c.clients.CoreV1().Secrets(namespace)))
	releases, err := store.ListReleases()
	if err != nil {
		return nil, fmt.Errorf("read the release records in %s: %w", namespace, err)
	}
	sort.Slice(releases, func(i, j int) bool { return releases[i].Version < releases[j].Version })
	out := map[string][]string{}
	for _, r := range releases {
		out[r.Name] = append(out[r.Name], r.Manifest)
	}
	return out, ctx.Err()
}

// floorPhase applies, for each release, the objects of revision rev
// (0-based) of manifests into namespace with server-side apply, at most
// concurrency releases at a time, each waiting until its workloads are
// ready (the readiness bar helm-service and Flux are held to): the least
// the cluster needs for the same work, with no Helm and no release records.
// With records, each release also gets Helm's bookkeeping around its apply
// (the floor+records baseline).
func floorPhase(ctx context.Context, c *cluster, manifests map[string][]string, records *recordKeeper, rev int, namespace, phase string, concurrency int, timeout time.Duration) (result, error) {
	tool := toolFloor
	if records != nil {
		tool = toolRecords
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for name := range manifests {
			if !yield(name) {
				return
			}
		}
	})
	fmt.Printf("%s %s: %d releases, %d at a time\n", tool, phase, len(names), concurrency)
	objects := make(map[string][]*unstructured.Unstructured, len(names))
	for _, name := range names {
		if rev >= len(manifests[name]) {
			return result{}, fmt.Errorf("release %s has %d revisions in helm-service's records, the floor needs revision %d", name, len(manifests[name]), rev+1)
		}
		objs, err := sortedObjects(manifests[name][rev])
		if err != nil {
			return result{}, fmt.Errorf("release %s: %w", name, err)
		}
		objects[name] = objs
	}
	w, err := watchDeployments(ctx, c, namespace)
	if err != nil {
		return result{}, err
	}
	defer w.stop()

	r := result{tool: tool, phase: phase, n: len(names)}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, concurrency)
	start := time.Now()
	for _, name := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			t0 := time.Now()
			err := applyAndWait(ctx, c, w, objects[name], records, name, rev, namespace, timeout)
			mu.Lock()
			defer mu.Unlock()
			r.finished = append(r.finished, time.Since(t0))
			if err != nil {
				r.failures++
				if r.note == "" {
					r.note = fmt.Sprintf("first failure: %s: %v", name, err)
				}
			}
		}()
	}
	wg.Wait()
	r.wall = time.Since(start)
	return r, nil
}

// sortedObjects splits a release's manifest into its objects, in the order
// Helm installs kinds.
func sortedObjects(manifest string) ([]*unstructured.Unstructured, error) {
	_, sorted, err := releaseutil.SortManifests(releaseutil.SplitManifests(manifest), nil, releaseutil.InstallOrder)
	if err != nil {
		return nil, err
	}
	var out []*unstructured.Unstructured
	for _, m := range sorted {
		objs, err := decodeObjects([]byte(m.Content))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.Name, err)
		}
		out = append(out, objs...)
	}
	return out, nil
}

// applyAndWait applies one release's objects (revision rev of release
// name) and waits until each of its Deployments has every replica of its
// newest generation ready, and none of an older one left; with records,
// Helm's bookkeeping comes before and after.
func applyAndWait(ctx context.Context, c *cluster, w *deploymentWatch, objs []*unstructured.Unstructured, records *recordKeeper, name string, rev int, namespace string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if records != nil {
		if err := records.before(ctx, name, rev, objs); err != nil {
			return err
		}
	}
	type target struct {
		name       string
		generation int64
	}
	var wait []target
	for _, obj := range objs {
		applied, err := c.apply(ctx, obj, namespace, floorFieldManager)
		if err != nil {
			return err
		}
		if applied.GetAPIVersion() == "apps/v1" && applied.GetKind() == "Deployment" {
			wait = append(wait, target{applied.GetName(), applied.GetGeneration()})
		}
	}
	for _, t := range wait {
		if err := w.await(ctx, t.name, t.generation); err != nil {
			return err
		}
	}
	if records != nil {
		return records.after(ctx, name, rev)
	}
	return nil
}

// deploymentWatch follows the Deployments of one namespace and wakes the
// waiters of each one that changes.
type deploymentWatch struct {
	lister  func(name string) (*appsv1.Deployment, error)
	mu      sync.Mutex
	changed map[string]chan struct{} // closed and replaced on every change
	cancel  context.CancelFunc
}

func watchDeployments(ctx context.Context, c *cluster, namespace string) (*deploymentWatch, error) {
	ctx, cancel := context.WithCancel(ctx)
	factory := informers.NewSharedInformerFactoryWithOptions(c.clients, 0, informers.WithNamespace(namespace))
	inf := factory.Apps().V1().Deployments()
	w := &deploymentWatch{changed: map[string]chan struct{}{}, cancel: cancel}
	w.lister = func(name string) (*appsv1.Deployment, error) { return inf.Lister().Deployments(namespace).Get(name) }
	notify := func(obj any) {
		if d, ok := obj.(*appsv1.Deployment); ok {
			w.signal(d.Name)
		}
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: notify, UpdateFunc: func(_, obj any) { notify(obj) },
	}); err != nil {
		cancel()
		return nil, err
	}
	factory.Start(ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			cancel()
			return nil, fmt.Errorf("watch %v in %s: cache did not sync", typ, namespace)
		}
	}
	return w, nil
}

func (w *deploymentWatch) stop() { w.cancel() }

func (w *deploymentWatch) signal(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ch, ok := w.changed[name]; ok {
		close(ch)
	}
	w.changed[name] = make(chan struct{})
}

func (w *deploymentWatch) next(name string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch, ok := w.changed[name]
	if !ok {
		ch = make(chan struct{})
		w.changed[name] = ch
	}
	return ch
}

// await blocks until Deployment name has observed generation and is
// ready.
func (w *deploymentWatch) await(ctx context.Context, name string, generation int64) error {
	for {
		ch := w.next(name)
		d, err := w.lister(name)
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		if d != nil && deploymentReady(d, generation) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			state := "not seen"
			if d != nil {
				state = fmt.Sprintf("generation %d observed %d, %d replicas: %d updated, %d ready, %d available",
					d.Generation, d.Status.ObservedGeneration, d.Status.Replicas, d.Status.UpdatedReplicas, d.Status.ReadyReplicas, d.Status.AvailableReplicas)
			}
			return fmt.Errorf("deployment %s not ready (%s): %w", name, state, ctx.Err())
		}
	}
}

// deploymentReady is the readiness bar of every tool measured: the
// controller has seen generation, and every wanted replica runs that
// generation's pod template, ready and available, with no pod of an older
// one left (what kstatus, which Flux waits with, calls Current).
func deploymentReady(d *appsv1.Deployment, generation int64) bool {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	if d.Generation < generation || s.ObservedGeneration < d.Generation {
		return false
	}
	for _, c := range s.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse {
			return false
		}
	}
	return s.UpdatedReplicas == want && s.ReadyReplicas == want && s.AvailableReplicas == want && s.Replicas == want
}

// ensureNamespace creates namespace unless it exists.
func ensureNamespace(ctx context.Context, c *cluster, name string) error {
	_, err := c.clients.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}
