package helm

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/kube"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/cli-runtime/pkg/resource"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
)

func TestRetryable(t *testing.T) {
	gr := schema.GroupResource{Group: "apps", Resource: "deployments"}
	for _, c := range []struct {
		err  error
		want bool
	}{
		{errors.New("connection refused"), true},
		{apierrors.NewServiceUnavailable("etcd leader changed"), true},
		{apierrors.NewTooManyRequests("slow down", 1), true},
		{fmt.Errorf("check: %w", apierrors.NewInternalError(errors.New("boom"))), true},
		{apierrors.NewNotFound(gr, "carts"), false},
		{apierrors.NewForbidden(gr, "carts", errors.New("no RBAC")), false},
	} {
		if got := retryable(c.err); got != c.want {
			t.Errorf("retryable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestPodSelectors(t *testing.T) {
	info := func(kind, ns string, obj runtime.Object) *resource.Info {
		return &resource.Info{Namespace: ns, Name: "carts", Object: obj,
			Mapping: &meta.RESTMapping{GroupVersionKind: schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: kind}}}
	}
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "carts"}}
	got := podSelectors(kube.ResourceList{
		info("Deployment", "shop-dev", &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Selector: sel}}),
		info("StatefulSet", "shop-prod", &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Selector: &metav1.LabelSelector{
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"db"}}}}}}),
		info("Service", "shop-dev", &corev1.Service{Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "carts"}}}),
		info("Deployment", "shop-dev", &appsv1.Deployment{}),
	})
	if len(got) != 2 || len(got["shop-dev"]) != 1 || len(got["shop-prod"]) != 1 {
		t.Fatalf("podSelectors = %v, want one selector for shop-dev and one for shop-prod", got)
	}
	if s := got["shop-dev"][0].String(); s != "app=carts" {
		t.Errorf("shop-dev selector = %q", s)
	}
	if s := got["shop-prod"][0].String(); s != "tier in (db)" {
		t.Errorf("shop-prod selector = %q", s)
	}
}

func TestCheckReadyAsksAgainOnlyAboutWorkloads(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "carts", Namespace: "shop-dev"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.0.10"}}
	replicas := int32(1)
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "carts", Namespace: "shop-dev", Generation: 1},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "carts"}}}}
	cs := fake.NewSimpleClientset(svc, dep)
	checker := kube.NewReadyChecker(cs, func(string, ...any) {})
	info := func(group, kind string, obj runtime.Object) *resource.Info {
		return &resource.Info{Namespace: "shop-dev", Name: "carts", Object: obj,
			Mapping: &meta.RESTMapping{GroupVersionKind: schema.GroupVersionKind{Group: group, Version: "v1", Kind: kind}}}
	}
	resources := kube.ResourceList{info("", "Service", svc), info("apps", "Deployment", dep)}
	ready := make([]bool, len(resources))

	for round := 1; round <= 2; round++ {
		cs.ClearActions()
		all, err := checkReady(context.Background(), cs, &checker, resources, ready, nil)
		if err != nil || all {
			t.Fatalf("round %d: checkReady = %v, %v; want not ready (the Deployment has no ready pod)", round, all, err)
		}
		var services, deployments int
		for _, a := range cs.Actions() {
			switch a.GetResource().Resource {
			case "services":
				services++
			case "deployments":
				deployments++
			}
		}
		if want := map[int]int{1: 1, 2: 0}[round]; services != want {
			t.Errorf("round %d: %d requests for the Service, want %d", round, services, want)
		}
		if deployments != 1 {
			t.Errorf("round %d: %d requests for the Deployment, want 1", round, deployments)
		}
	}
	if !ready[0] || ready[1] {
		t.Errorf("ready = %v, want the Service marked and the Deployment not", ready)
	}
}

func TestPollOrKickChecksAtOnceWhenKicked(t *testing.T) {
	kick := make(chan struct{}, 1)
	checks := make(chan struct{}, 10)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		n := 0
		done <- pollOrKick(ctx, func() time.Duration { return time.Hour }, kick, func(_ context.Context, kicked bool) (bool, error) {
			if kicked != (n == 1) {
				t.Errorf("check %d: kicked = %v", n+1, kicked)
			}
			n++
			checks <- struct{}{}
			return n == 2, nil
		})
	}()
	<-checks // the first check runs at once
	kick <- struct{}{}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("pollOrKick = %v", err)
		}
	case <-ctx.Done():
		t.Fatal("a kick did not bring a check before the hour-long poll")
	}
}

func TestPollOrKickEndsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := pollOrKick(ctx, func() time.Duration { return 10 * time.Millisecond }, nil, func(context.Context, bool) (bool, error) { return false, nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("pollOrKick = %v, want the deadline", err)
	}
}

// watchedDeployment is Deployment shop-dev/carts as a release's only
// resource, in a fake clientset that serves watches of it.
func watchedDeployment() (*appsv1.Deployment, *fake.Clientset, kube.ResourceList) {
	dep := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "carts", Namespace: "shop-dev"},
	}
	cs := fake.NewClientset(dep)
	gvr := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	resources := kube.ResourceList{{Namespace: "shop-dev", Name: "carts", Object: dep.DeepCopy(),
		Mapping: &meta.RESTMapping{Resource: gvr, GroupVersionKind: appsv1.SchemeGroupVersion.WithKind("Deployment")}}}
	return dep, cs, resources
}

// noDynamic is a dynamic client that serves nothing.
func noDynamic() *dynamicfake.FakeDynamicClient {
	return dynamicfake.NewSimpleDynamicClient(runtime.NewScheme())
}

// A workload without a watch (no watch permission, say) leaves the wait to
// the fast poll.
func TestWatchWorkloadsWithoutAWatchAreNotAll(t *testing.T) {
	_, cs, resources := watchedDeployment()
	cs.PrependWatchReactor("deployments", func(clienttesting.Action) (bool, watch.Interface, error) {
		return true, nil, errors.New(`deployments.apps is forbidden: cannot watch`)
	})
	if w := watchWorkloads(context.Background(), cs, noDynamic(), resources, make(chan struct{}, 1)); w.all() {
		t.Error("a Deployment without a watch counts as watched")
	}
	var none *workloadWatches
	if none.all() {
		t.Error("no watches at all (no dynamic client) count as all")
	}
}

// A watch that ends no longer counts.
func TestWatchWorkloadsEndedAreNotAll(t *testing.T) {
	_, cs, resources := watchedDeployment()
	fw := watch.NewFake()
	cs.PrependWatchReactor("deployments", func(clienttesting.Action) (bool, watch.Interface, error) { return true, fw, nil })
	w := watchWorkloads(context.Background(), cs, noDynamic(), resources, make(chan struct{}, 1))
	if !w.all() {
		t.Fatal("the watch runs, but the watches are not all")
	}
	fw.Stop() // the server ends the watch
	deadline := time.Now().Add(5 * time.Second)
	for w.all() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if w.all() {
		t.Error("an ended watch still counts")
	}
}

func TestDeploymentReadyFromItsStatus(t *testing.T) {
	three := int32(3)
	for _, c := range []struct {
		name                     string
		observed, generation     int64
		replicas, updated, ready int32
		maxUnavailable           *intstr.IntOrString
		paused                   bool
		want                     bool
	}{
		{"rolled out", 2, 2, 3, 3, 3, nil, false, true},
		{"old pod still running", 2, 2, 4, 3, 3, nil, false, false},
		{"status behind the spec", 1, 2, 3, 3, 3, nil, false, false},
		{"new pods not ready", 2, 2, 3, 3, 2, ptrTo(intstr.FromInt32(0)), false, false},
		// Helm's rule: ready pods of the new generation at least the
		// replicas less the most the strategy lets be unavailable.
		{"one short, one may be unavailable", 2, 2, 3, 3, 2, ptrTo(intstr.FromInt32(1)), false, true},
		{"paused", 1, 2, 4, 3, 0, nil, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			dep := &appsv1.Deployment{
				ObjectMeta: metav1.ObjectMeta{Name: "carts", Namespace: "shop-dev", Generation: c.generation},
				Spec: appsv1.DeploymentSpec{Paused: c.paused, Replicas: &three, Strategy: appsv1.DeploymentStrategy{
					Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: c.maxUnavailable}}},
				Status: appsv1.DeploymentStatus{ObservedGeneration: c.observed, Replicas: c.replicas, UpdatedReplicas: c.updated, ReadyReplicas: c.ready},
			}
			cs := fake.NewSimpleClientset(dep)
			got, err := deploymentReady(context.Background(), cs, "shop-dev", "carts")
			if err != nil || got != c.want {
				t.Fatalf("deploymentReady = %v, %v; want %v", got, err, c.want)
			}
			// One read of the Deployment: no list of its ReplicaSets.
			if n := len(cs.Actions()); n != 1 {
				t.Errorf("%d requests, want 1: %v", n, cs.Actions())
			}
		})
	}
}

// A check brought by a watch event judges a Deployment from the object the
// event carried: no read of it.
func TestCheckReadyTakesTheWatchedDeployment(t *testing.T) {
	one := int32(1)
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "carts", Namespace: "shop-dev", Generation: 2},
		Spec: appsv1.DeploymentSpec{Replicas: &one}}
	cs := fake.NewSimpleClientset(dep) // as read: the rollout not begun
	checker := kube.NewReadyChecker(cs, func(string, ...any) {})
	resources := kube.ResourceList{{Namespace: "shop-dev", Name: "carts", Object: dep,
		Mapping: &meta.RESTMapping{GroupVersionKind: schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}}}}
	seen := dep.DeepCopy()
	seen.Status = appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1}
	observed := func(r *resource.Info) runtime.Object {
		if r.Namespace == "shop-dev" && r.Name == "carts" {
			return seen
		}
		return nil
	}
	all, err := checkReady(context.Background(), cs, &checker, resources, make([]bool, 1), observed)
	if err != nil || !all {
		t.Fatalf("checkReady = %v, %v; want ready from the watched object", all, err)
	}
	if n := len(cs.Actions()); n != 0 {
		t.Errorf("%d requests, want none: %v", n, cs.Actions())
	}
}

// The first check of a wait judges a Deployment and a Service from the
// objects the cluster answered Helm's writes with: no read of either. An
// object Helm has only from the manifest (no resource version) is read.
func TestCheckReadyJudgesWhatHelmWrote(t *testing.T) {
	one := int32(1)
	readyStatus := appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "carts", Namespace: "shop-dev", Generation: 1, ResourceVersion: "7"},
		Spec: appsv1.DeploymentSpec{Replicas: &one}, Status: readyStatus}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "carts", Namespace: "shop-dev", ResourceVersion: "5"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.0.10"}}
	lb := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "carts-lb", Namespace: "shop-dev", ResourceVersion: "6"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIP: "10.96.0.11"}}
	unstructuredDep, err := runtime.DefaultUnstructuredConverter.ToUnstructured(dep)
	if err != nil {
		t.Fatal(err)
	}
	info := func(group, kind, name string, obj runtime.Object) *resource.Info {
		return &resource.Info{Namespace: "shop-dev", Name: name, Object: obj,
			Mapping: &meta.RESTMapping{GroupVersionKind: schema.GroupVersionKind{Group: group, Version: "v1", Kind: kind}}}
	}
	for _, tc := range []struct {
		name      string
		resources kube.ResourceList
		ready     bool
		reads     int
	}{
		{"typed objects", kube.ResourceList{info("", "Service", "carts", svc), info("apps", "Deployment", "carts", dep)}, true, 0},
		{"unstructured Deployment", kube.ResourceList{info("apps", "Deployment", "carts", &unstructured.Unstructured{Object: unstructuredDep})}, true, 0},
		{"a load balancer without an ingress", kube.ResourceList{info("", "Service", "carts-lb", lb)}, false, 0},
		{"a manifest's Deployment", kube.ResourceList{info("apps", "Deployment", "carts", &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "carts", Namespace: "shop-dev"}})}, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := fake.NewSimpleClientset(dep.DeepCopy(), svc.DeepCopy(), lb.DeepCopy())
			checker := kube.NewReadyChecker(cs, func(string, ...any) {})
			all, err := checkReady(context.Background(), cs, &checker, tc.resources, make([]bool, len(tc.resources)), written)
			if err != nil || all != tc.ready {
				t.Fatalf("checkReady = %v, %v; want %v", all, err, tc.ready)
			}
			if n := len(cs.Actions()); n != tc.reads {
				t.Errorf("%d requests, want %d: %v", n, tc.reads, cs.Actions())
			}
		})
	}
}

// A change of a watched Deployment kicks a check, and the watches keep the
// newest object of it.
func TestWatchWorkloadsKickAndKeepTheNewestDeployment(t *testing.T) {
	dep, cs, resources := watchedDeployment()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kick := make(chan struct{}, 1)
	w := watchWorkloads(ctx, cs, noDynamic(), resources, kick)
	if !w.all() {
		t.Error("the Deployment's watch runs, but the watches are not all")
	}
	if got := w.deployment("shop-dev", "carts"); got != nil && got.Status.ReadyReplicas == 3 {
		t.Fatalf("the changed Deployment before the change: %+v", got)
	}
	changed := dep.DeepCopy()
	changed.Status.ReadyReplicas = 3
	if _, err := cs.AppsV1().Deployments("shop-dev").UpdateStatus(ctx, changed, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case <-kick:
		case <-ctx.Done():
			t.Fatalf("no kick with the changed Deployment; newest = %+v", w.deployment("shop-dev", "carts"))
		}
		if got := w.deployment("shop-dev", "carts"); got != nil && got.Status.ReadyReplicas == 3 {
			return
		}
	}
}

// A workload other than a Deployment is watched with the dynamic client,
// and its changes kick a check too.
func TestWatchWorkloadsWatchOtherKindsDynamically(t *testing.T) {
	gvr := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"}
	dc := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{gvr: "StatefulSetList"})
	fw := watch.NewFake()
	dc.PrependWatchReactor("statefulsets", func(clienttesting.Action) (bool, watch.Interface, error) { return true, fw, nil })
	sts := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "StatefulSet",
		"metadata": map[string]any{"name": "db", "namespace": "shop-dev"},
	}}
	resources := kube.ResourceList{{Namespace: "shop-dev", Name: "db", Object: sts,
		Mapping: &meta.RESTMapping{Resource: gvr, GroupVersionKind: appsv1.SchemeGroupVersion.WithKind("StatefulSet")}}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kick := make(chan struct{}, 1)
	w := watchWorkloads(ctx, fake.NewClientset(), dc, resources, kick)
	if !w.all() {
		t.Fatal("the StatefulSet's watch runs, but the watches are not all")
	}
	fw.Modify(sts)
	select {
	case <-kick:
	case <-ctx.Done():
		t.Fatal("no kick after the StatefulSet changed")
	}
}

func ptrTo[T any](v T) *T { return &v }
