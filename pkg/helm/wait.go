package helm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"helm.sh/helm/v3/pkg/kube"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
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
		watches = watchWorkloads(ctx, dc, resources, kick)
	}
	interval := func() time.Duration {
		if watches.all() {
			return watchedPoll
		}
		return readinessPoll
	}
	err = pollOrKick(ctx, interval, kick, func(ctx context.Context) (bool, error) {
		allReady, err := checkReady(ctx, cs, &checker, resources, ready)
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
// and whenever kick fires, until it is done, fails, or ctx ends (its error
// is then ctx's).
func pollOrKick(ctx context.Context, interval func() time.Duration, kick <-chan struct{}, check wait.ConditionWithContextFunc) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if done, err := check(ctx); err != nil || done {
			return err
		}
		t := time.NewTimer(interval())
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		case <-kick:
			t.Stop()
		}
	}
}

// workloadWatches tells whether every workload of a wait is watched.
type workloadWatches struct {
	wanted int
	live   atomic.Int32
}

// all tells whether every workload has a watch running; false on nil.
func (w *workloadWatches) all() bool { return w != nil && int(w.live.Load()) == w.wanted }

// watchWorkloads watches each workload among resources, by name, until ctx
// ends, and signals kick on every change. A watch that cannot start (no
// watch permission, say) or that ends leaves the poll alone to notice, at
// readinessPoll: the watches it returns then no longer count as all.
func watchWorkloads(ctx context.Context, dc dynamic.Interface, resources kube.ResourceList, kick chan<- struct{}) *workloadWatches {
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
		w, err := dc.Resource(r.Mapping.Resource).Namespace(r.Namespace).Watch(ctx, opts)
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
				case _, ok := <-w.ResultChan():
					if !ok {
						return
					}
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

// rolloutDone tells whether a Deployment's status covers its current spec
// and no pod of an older ReplicaSet is left running.
func rolloutDone(ctx context.Context, cs kubernetes.Interface, namespace, name string) (bool, error) {
	d, err := cs.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return false, fmt.Errorf("get Deployment %s/%s: %w", namespace, name, err)
	}
	if d.Spec.Paused {
		return true, nil // no rollout to wait for, as Helm's PausedAsReady
	}
	return d.Status.ObservedGeneration >= d.Generation && d.Status.Replicas <= d.Status.UpdatedReplicas, nil
}

// isWorkload tells whether r runs pods: its readiness can change any time.
func isWorkload(r *resource.Info) bool { return kubeinfo.RunsPods(r.Mapping.GroupVersionKind.Kind) }

// failCheckPeriod is how often a fail-fast wait looks for pods that cannot
// start, from this long after the wait began.
const failCheckPeriod = time.Second

// checkReady checks the resources not yet marked in ready, in order, and
// stops at the first that is not ready. A resource whose readiness cannot
// go back (anything but a workload or a pod) is marked once ready and not
// asked about again; workloads are checked on every call, as Helm does.
//
// A Deployment must also have finished its rollout: Helm calls it ready as
// soon as its new ReplicaSet has enough ready pods, while pods of the old
// one may still run (kubectl rollout status waits for them to go).
func checkReady(ctx context.Context, cs kubernetes.Interface, checker *kube.ReadyChecker, resources kube.ResourceList, ready []bool) (bool, error) {
	for i, r := range resources {
		if ready[i] {
			continue
		}
		ok, err := checker.IsReady(ctx, r)
		if err != nil || !ok {
			return false, err
		}
		if r.Mapping.GroupVersionKind.Kind == "Deployment" {
			if ok, err := rolloutDone(ctx, cs, r.Namespace, r.Name); err != nil || !ok {
				return false, err
			}
		}
		if !isWorkload(r) {
			ready[i] = true
		}
	}
	return true, nil
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
