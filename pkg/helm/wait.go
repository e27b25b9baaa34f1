package helm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"helm.sh/helm/v3/pkg/kube"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	kubeinfo "github.com/helm-service/helm-service/pkg/kube"
	"github.com/helm-service/helm-service/pkg/timings"
	"github.com/helm-service/helm-service/pkg/tracing"
)

// readinessPoll is how often a wait checks the release's resources while
// a workload of the release is not watched. Helm's own waiter polls every
// 2 s, which is most of the time of a small deploy.
const readinessPoll = 250 * time.Millisecond

// watchedPoll is how often a wait checks the release's resources while
// every workload of the release is watched: a change of a workload's
// status brings a check at once, so the poll only covers what no watch
// shows (a Service's load balancer, say), at Helm's own pace. Polling at
// readinessPoll on top of the watches was most of the requests a task sent
// to the API server.
const watchedPoll = 2 * time.Second

// waitingClient is Helm's Kubernetes client with a faster wait: the same
// readiness rules as Helm (kube.ReadyChecker), checked every readinessPoll.
// Everything else is Helm's own client.
type waitingClient struct {
	*kube.Client
	log func(string, ...any)
	// reads answers the repeated reads of an update (updatereads.go); nil:
	// every read goes to the cluster.
	reads *updateReads
	// ctx is the context of the action the client serves: Helm's wait
	// takes none, and its span is a child of the action's.
	ctx      context.Context
	observer Observer
	// failFast ends a wait as soon as a pod of the release's workloads
	// shows a failure that will not pass by itself (kube.PodFailure).
	failFast bool
}

// claimGrace is how long a claim a pod mounts may stay Pending, to allow
// for dynamic provisioning, before a fail-fast wait gives up on it.
const claimGrace = 10 * time.Second

// ErrWaitCutShort marks a wait ended before its timeout because a pod of
// the release cannot become ready.
var ErrWaitCutShort = errors.New("wait cut short")

// Wait implements kube.Interface.
func (c *waitingClient) Wait(resources kube.ResourceList, timeout time.Duration) error {
	return c.wait(resources, timeout, false)
}

// WaitWithJobs implements kube.Interface.
func (c *waitingClient) WaitWithJobs(resources kube.ResourceList, timeout time.Duration) error {
	return c.wait(resources, timeout, true)
}

func (c *waitingClient) wait(resources kube.ResourceList, timeout time.Duration, jobs bool) (err error) {
	_, span := tracing.Start(c.ctx, "helm.wait", attribute.Int("k8s.resources", len(resources)), attribute.String("helm.wait.timeout", timeout.String()))
	defer func() { tracing.End(span, err) }()
	cs, err := c.Factory.KubernetesClientSet()
	if err != nil {
		return err
	}
	if c.observer != nil {
		defer timed(c.observer, "wait")()
	}
	if c.ctx != nil {
		defer timings.Time(c.ctx, timings.Wait)()
	}
	checker := kube.NewReadyChecker(cs, c.log, kube.PausedAsReady(true), kube.CheckJobs(jobs))
	// The action's context ends the wait early on shutdown; Helm's own
	// context handling is not used (see apply.go).
	parent := c.ctx
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	var lastErr error
	selectors := podSelectors(resources)
	ready := make([]bool, len(resources))
	var lastFailCheck time.Time
	started := time.Now()
	// A status change of a workload triggers a check at once; the poll
	// covers everything else (and the workloads, should a watch fail).
	kick := make(chan struct{}, 1)
	var watches *workloadWatches
	if dc, err := c.Factory.DynamicClient(); err == nil {
		watches = watchWorkloads(ctx, cs, dc, resources, kick)
	}
	interval := func() time.Duration {
		if watches.all() {
			return watchedPoll
		}
		return readinessPoll
	}
	first := true
	err = pollOrKick(ctx, interval, kick, func(ctx context.Context, kicked bool) (bool, error) {
		// The first check judges the objects from what Helm's writes of
		// them answered, and a check a watch event brought from what the
		// event carried; the polls read them, in case a watch has stalled.
		var atHand func(r *resource.Info) runtime.Object
		switch {
		case first:
			atHand = written
		case kicked:
			atHand = watches.newest
		}
		first = false
		allReady, err := checkReady(ctx, cs, &checker, resources, ready, atHand)
		if err != nil {
			if !retryable(err) {
				return false, err
			}
			if ctx.Err() != nil {
				// The check was cut off by the timeout itself (the
				// client's rate limiter says so): nothing to add.
				return false, nil
			}
			lastErr = err
			return false, nil
		}
		if allReady {
			return true, nil
		}
		// Pods that cannot start take seconds to show it: look for them
		// once per failCheckPeriod, not on every poll.
		if c.failFast && time.Since(started) >= failCheckPeriod && time.Since(lastFailCheck) >= failCheckPeriod {
			lastFailCheck = time.Now()
			if err := failingPod(ctx, cs, selectors); err != nil {
				return false, err
			}
		}
		return false, nil
	})
	if err != nil && errors.Is(err, context.DeadlineExceeded) {
		if lastErr != nil {
			// The API server failed the checks: the timeout is its doing.
			return errors.Join(err, lastErr)
		}
		return fmt.Errorf("%w (%s): %w", ErrWaitTimeout, timeout, err)
	}
	return err
}

// ErrWaitTimeout is the error of a readiness wait that ran out of time
// while the API server answered every check: the workloads are not ready,
// and running the task again right away would not make them so.
var ErrWaitTimeout = errors.New("timed out waiting for the workloads to be ready")

// pollOrKick runs check at once, then again interval() after each check
// and whenever kick fires (telling check so), until it is done, fails, or
// ctx ends (its error is then ctx's).
func pollOrKick(ctx context.Context, interval func() time.Duration, kick <-chan struct{}, check func(ctx context.Context, kicked bool) (bool, error)) error {
	kicked := false
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if done, err := check(ctx, kicked); err != nil || done {
			return err
		}
		t := time.NewTimer(interval())
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
			kicked = false
		case <-kick:
			t.Stop()
			kicked = true
		}
	}
}

// workloadWatches tells whether every workload of a wait is watched, and
// keeps the newest object the watches of Deployments saw.
type workloadWatches struct {
	wanted int
	live   atomic.Int32

	mu          sync.Mutex
	deployments map[string]*appsv1.Deployment // by namespace/name
}

// all tells whether every workload has a watch running; false on nil.
func (w *workloadWatches) all() bool { return w != nil && int(w.live.Load()) == w.wanted }

// deployment returns the newest object a watch saw of a Deployment, or nil
// when none has come (or w is nil).
func (w *workloadWatches) deployment(namespace, name string) *appsv1.Deployment {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.deployments[namespace+"/"+name]
}

// newest returns the newest object a watch saw of r when r is a
// Deployment, else nil.
func (w *workloadWatches) newest(r *resource.Info) runtime.Object {
	if r.Mapping.GroupVersionKind.Kind != "Deployment" {
		return nil
	}
	if d := w.deployment(r.Namespace, r.Name); d != nil {
		return d
	}
	return nil
}

// written returns the object Helm holds of r when it is what the cluster
// answered Helm's create, patch or read of it (it has a resource
// version), else nil: a manifest's object has no status to judge.
func written(r *resource.Info) runtime.Object {
	if r.Object == nil {
		return nil
	}
	if m, err := meta.Accessor(r.Object); err != nil || m.GetResourceVersion() == "" {
		return nil
	}
	return r.Object
}

// saw keeps the Deployment a watch delivered.
func (w *workloadWatches) saw(ev watch.Event) {
	if ev.Type != watch.Added && ev.Type != watch.Modified {
		return
	}
	d, ok := ev.Object.(*appsv1.Deployment)
	if !ok {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.deployments == nil {
		w.deployments = map[string]*appsv1.Deployment{}
	}
	w.deployments[d.Namespace+"/"+d.Name] = d
}

// watchWorkloads watches each workload among resources, by name, until ctx
// ends, and signals kick on every change: a Deployment with the typed
// client cs (its events decoded straight into the objects the checks
// judge), any other workload with dc. A watch that cannot start (no watch
// permission, say) or that ends leaves the poll alone to notice, at
// readinessPoll: the watches it returns then no longer count as all.
func watchWorkloads(ctx context.Context, cs kubernetes.Interface, dc dynamic.Interface, resources kube.ResourceList, kick chan<- struct{}) *workloadWatches {
	watches := &workloadWatches{}
	for _, r := range resources {
		if !isWorkload(r) || r.Namespace == "" {
			continue
		}
		opts := metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", r.Name).String()}
		if m, err := meta.Accessor(r.Object); err == nil {
			opts.ResourceVersion = m.GetResourceVersion() // changes after the one Helm saw
		}
		watches.wanted++
		var w watch.Interface
		var err error
		if r.Mapping.GroupVersionKind == appsv1.SchemeGroupVersion.WithKind("Deployment") {
			w, err = cs.AppsV1().Deployments(r.Namespace).Watch(ctx, opts)
		} else {
			w, err = dc.Resource(r.Mapping.Resource).Namespace(r.Namespace).Watch(ctx, opts)
		}
		if err != nil {
			continue
		}
		watches.live.Add(1)
		go func() {
			defer w.Stop()
			defer watches.live.Add(-1)
			for {
				select {
				case <-ctx.Done():
					return
				case ev, ok := <-w.ResultChan():
					if !ok {
						return
					}
					watches.saw(ev) // before the kick, for the check it brings
					select {
					case kick <- struct{}{}:
					default: // a check is due already
					}
				}
			}
		}()
	}
	return watches
}

// deploymentReady tells whether a Deployment is ready, from one read of
// the Deployment: Helm's rule (the generation observed, and at least the
// replicas less the strategy's maxUnavailable ready in the new
// generation) and a finished rollout (no pod of an older ReplicaSet left:
// Helm calls a Deployment ready as soon as its new ReplicaSet has enough
// ready pods, while kubectl rollout status waits for the old ones to go).
// With only new pods left, the Deployment's ready count is its new
// ReplicaSet's, so Helm's list of the namespace's ReplicaSets on every
// check, a scan of every ReplicaSet there, is not needed.
func deploymentReady(ctx context.Context, cs kubernetes.Interface, namespace, name string) (bool, error) {
	d, err := cs.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return false, fmt.Errorf("get Deployment %s/%s: %w", namespace, name, err)
	}
	return deploymentStatusReady(d), nil
}

// deploymentStatusReady is the rule of deploymentReady on an object at hand.
func deploymentStatusReady(d *appsv1.Deployment) bool {
	if d.Spec.Paused {
		return true // no rollout to wait for, as Helm's PausedAsReady
	}
	if d.Status.ObservedGeneration != d.Generation || d.Status.Replicas > d.Status.UpdatedReplicas {
		return false
	}
	replicas := int32(1)
	if d.Spec.Replicas != nil {
		replicas = *d.Spec.Replicas
	}
	return d.Status.ReadyReplicas >= replicas-maxUnavailable(d, replicas)
}

// maxUnavailable is how many of a Deployment's replicas its strategy lets
// be unavailable, resolved as the Deployment controller resolves it (and
// Helm with it): a percentage of maxUnavailable rounds down, one of
// maxSurge up (both default to 25%), and when both come to 0 one pod may
// be unavailable.
func maxUnavailable(d *appsv1.Deployment, replicas int32) int32 {
	ru := d.Spec.Strategy.RollingUpdate
	if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || replicas == 0 || ru == nil {
		return 0
	}
	quarter := intstr.FromString("25%")
	surge, err1 := intstr.GetScaledValueFromIntOrPercent(intstr.ValueOrDefault(ru.MaxSurge, quarter), int(replicas), true)
	unavailable, err2 := intstr.GetScaledValueFromIntOrPercent(intstr.ValueOrDefault(ru.MaxUnavailable, quarter), int(replicas), false)
	if err1 != nil || err2 != nil {
		return 0 // the API server validates both; wait for every replica
	}
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return min(int32(unavailable), replicas)
}

// isWorkload tells whether r runs pods: its readiness can change any time.
func isWorkload(r *resource.Info) bool { return kubeinfo.RunsPods(r.Mapping.GroupVersionKind.Kind) }

// failCheckPeriod is how often a fail-fast wait looks for pods that cannot
// start, from this long after the wait began.
const failCheckPeriod = time.Second

// checkReady checks resources in order, skipping those already marked
// ready, and stops at the first that is not ready. A resource whose
// readiness cannot go back (anything but a workload or a pod) is marked
// once ready and not asked about again; workloads are checked on every
// call, as Helm does.
//
// Where atHand returns an object the cluster gave for a resource (nil
// atHand, or a nil object, means none), a Deployment or a Service is
// judged from it, with no read: a Deployment by deploymentStatusReady, a
// Service by Helm's rule (a cluster IP, and an ingress for a load balancer
// without external IPs). Everything else, and those without an object at
// hand, Helm's checker reads, a Deployment by deploymentReady.
func checkReady(ctx context.Context, cs kubernetes.Interface, checker *kube.ReadyChecker, resources kube.ResourceList, ready []bool, atHand func(r *resource.Info) runtime.Object) (bool, error) {
	for i, r := range resources {
		if ready[i] {
			continue
		}
		var obj runtime.Object
		if atHand != nil {
			obj = atHand(r)
		}
		ok, judged := readyFrom(r.Mapping.GroupVersionKind.Kind, obj)
		var err error
		switch {
		case judged:
		case r.Mapping.GroupVersionKind.Kind == "Deployment":
			ok, err = deploymentReady(ctx, cs, r.Namespace, r.Name)
		default:
			ok, err = checker.IsReady(ctx, r)
		}
		if err != nil || !ok {
			return false, err
		}
		if !isWorkload(r) {
			ready[i] = true
		}
	}
	return true, nil
}

// readyFrom judges a Deployment or a Service from obj, an object of kind
// the cluster gave; judged is false for another kind, or no object.
func readyFrom(kind string, obj runtime.Object) (ready, judged bool) {
	if obj == nil {
		return false, false
	}
	switch kind {
	case "Deployment":
		var d appsv1.Deployment
		if !convertTo(obj, &d) {
			return false, false
		}
		return deploymentStatusReady(&d), true
	case "Service":
		var svc corev1.Service
		if !convertTo(obj, &svc) {
			return false, false
		}
		return serviceReady(&svc), true
	}
	return false, false
}

// serviceReady is Helm's rule for a Service: an ExternalName is ready;
// anything else needs a cluster IP, and a load balancer without external
// IPs an ingress too.
func serviceReady(s *corev1.Service) bool {
	switch {
	case s.Spec.Type == corev1.ServiceTypeExternalName:
		return true
	case s.Spec.ClusterIP == "":
		return false
	case s.Spec.Type == corev1.ServiceTypeLoadBalancer && len(s.Spec.ExternalIPs) == 0:
		return s.Status.LoadBalancer.Ingress != nil
	}
	return true
}

// convertTo fills out (a typed object) from obj, typed or unstructured.
func convertTo(obj runtime.Object, out runtime.Object) bool {
	switch o := obj.(type) {
	case *unstructured.Unstructured:
		return runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, out) == nil
	case *appsv1.Deployment:
		if d, ok := out.(*appsv1.Deployment); ok {
			o.DeepCopyInto(d)
			return true
		}
	case *corev1.Service:
		if svc, ok := out.(*corev1.Service); ok {
			o.DeepCopyInto(svc)
			return true
		}
	}
	return false
}

// failingPod returns an error wrapping ErrWaitCutShort when a pod matching
// selectors (namespace to selectors) shows a failure that will not pass.
// Errors reading the pods are left to the readiness check to report.
func failingPod(ctx context.Context, cs kubernetes.Interface, selectors map[string][]labels.Selector) error {
	now := time.Now()
	for ns, sel := range selectors {
		why, err := kubeinfo.FailingPod(ctx, cs, ns, sel, claimGrace, now)
		if err == nil && why != "" {
			return fmt.Errorf("%w: %s", ErrWaitCutShort, why)
		}
	}
	return nil
}

// podSelectors returns, per namespace, the pod selectors of the workloads
// among resources: every object with a spec.selector in label-selector form
// (Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs).
func podSelectors(resources kube.ResourceList) map[string][]labels.Selector {
	out := make(map[string][]labels.Selector)
	for _, r := range resources {
		if !kubeinfo.HasPodTemplate(r.Mapping.GroupVersionKind.Kind) {
			continue
		}
		obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(r.Object)
		if err != nil {
			continue
		}
		raw, ok, err := unstructured.NestedMap(obj, "spec", "selector")
		if !ok || err != nil {
			continue
		}
		var ls metav1.LabelSelector
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &ls); err != nil {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(&ls)
		if err != nil || sel.Empty() {
			continue
		}
		out[r.Namespace] = append(out[r.Namespace], sel)
	}
	return out
}

// retryable reports whether a readiness check error may pass: API errors
// that say the server is busy or broken, and errors that are not API errors
// at all (connection problems).
func retryable(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return true
	}
	code := int(status.Status().Code)
	return code == 0 || code == http.StatusTooManyRequests || code >= http.StatusInternalServerError
}

// diagnoseTimeout bounds the reads that explain a failed wait; the task's own
// context may already be spent when they run.
const diagnoseTimeout = 10 * time.Second

// notReady describes the workloads that are not ready, or "" when all are.
func (c *Client) notReady(ctx context.Context, workloads []kubeinfo.Workload) string {
	if c.clientset == nil || len(workloads) == 0 {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), diagnoseTimeout)
	defer cancel()
	return strings.Join(kubeinfo.NotReady(ctx, c.clientset, workloads), "; ")
}
