package kube

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// workloadCluster holds Deployments and StatefulSets and serves their
// scale subresource from their spec, as the API server does.
func workloadCluster(t *testing.T, objects ...runtime.Object) *fake.Clientset {
	t.Helper()
	cs := fake.NewClientset(objects...)
	gvr := map[string]func(ns, name string) (*int32, func() error, error){
		"deployments": func(ns, name string) (*int32, func() error, error) {
			d, err := cs.Tracker().Get(appsv1.SchemeGroupVersion.WithResource("deployments"), ns, name)
			if err != nil {
				return nil, nil, err
			}
			dep := d.(*appsv1.Deployment)
			return dep.Spec.Replicas, func() error {
				return cs.Tracker().Update(appsv1.SchemeGroupVersion.WithResource("deployments"), dep, ns)
			}, nil
		},
		"statefulsets": func(ns, name string) (*int32, func() error, error) {
			s, err := cs.Tracker().Get(appsv1.SchemeGroupVersion.WithResource("statefulsets"), ns, name)
			if err != nil {
				return nil, nil, err
			}
			st := s.(*appsv1.StatefulSet)
			return st.Spec.Replicas, func() error {
				return cs.Tracker().Update(appsv1.SchemeGroupVersion.WithResource("statefulsets"), st, ns)
			}, nil
		},
	}
	for resource, get := range gvr {
		cs.PrependReactor("get", resource, func(a k8stesting.Action) (bool, runtime.Object, error) {
			g := a.(k8stesting.GetAction)
			if g.GetSubresource() != "scale" {
				return false, nil, nil
			}
			r, _, err := get(g.GetNamespace(), g.GetName())
			if err != nil {
				return true, nil, err
			}
			return true, &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: g.GetName(), Namespace: g.GetNamespace()}, Spec: autoscalingv1.ScaleSpec{Replicas: *r}}, nil
		})
		cs.PrependReactor("update", resource, func(a k8stesting.Action) (bool, runtime.Object, error) {
			u := a.(k8stesting.UpdateAction)
			if u.GetSubresource() != "scale" {
				return false, nil, nil
			}
			s := u.GetObject().(*autoscalingv1.Scale)
			r, save, err := get(u.GetNamespace(), s.Name)
			if err != nil {
				return true, nil, err
			}
			*r = s.Spec.Replicas
			return true, s, save()
		})
	}
	return cs
}

func ptr(n int32) *int32 { return &n }

func deployment(name string, replicas int32, annotations map[string]string) *appsv1.Deployment {
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Annotations: annotations}, Spec: appsv1.DeploymentSpec{Replicas: ptr(replicas)}}
}

func TestScaleByClampsAndRecords(t *testing.T) {
	cs := workloadCluster(t,
		deployment("web", 2, nil),
		&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "ns"}, Spec: appsv1.StatefulSetSpec{Replicas: ptr(1)}},
	)
	s := Scaler{Clientset: cs}
	web := Workload{Kind: "Deployment", Namespace: "ns", Name: "web"}
	db := Workload{Kind: "StatefulSet", Namespace: "ns", Name: "db"}
	cases := []struct {
		w              Workload
		delta, max     int32
		wantFrom, want int32
	}{
		{web, 2, 100, 2, 4},
		{web, -1, 100, 4, 3},
		{web, -10, 100, 3, 0},
		{web, 50, 5, 0, 5},
		{db, 1, 100, 1, 2},
	}
	for _, c := range cases {
		ch, err := s.ScaleBy(context.Background(), c.w, c.delta, c.max)
		if err != nil {
			t.Fatalf("%s by %d: %v", c.w, c.delta, err)
		}
		if ch != (Change{Workload: c.w, From: c.wantFrom, To: c.want}) {
			t.Errorf("%s by %d (max %d) = %v, want from %d to %d", c.w, c.delta, c.max, ch, c.wantFrom, c.want)
		}
	}
	d, _ := cs.AppsV1().Deployments("ns").Get(context.Background(), "web", metav1.GetOptions{})
	if *d.Spec.Replicas != 5 || d.Annotations[AnnotationReplicas] != "5" {
		t.Errorf("web: %d replicas, annotation %q; want 5 and 5", *d.Spec.Replicas, d.Annotations[AnnotationReplicas])
	}
	kept, err := s.Kept(context.Background(), []Workload{web, db, {Kind: "Deployment", Namespace: "ns", Name: "gone"}, {Kind: "DaemonSet", Namespace: "ns", Name: "exporter"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(kept) != 2 || kept[web] != 5 || kept[db] != 2 {
		t.Errorf("kept = %v, want web 5 and db 2", kept)
	}
}

func TestScaleByUnknownKindAndMissingWorkload(t *testing.T) {
	s := Scaler{Clientset: workloadCluster(t)}
	if _, err := s.ScaleBy(context.Background(), Workload{Kind: "DaemonSet", Namespace: "ns", Name: "exporter"}, 1, 10); !errors.Is(err, ErrNotScalable) {
		t.Errorf("DaemonSet: %v, want ErrNotScalable", err)
	}
	_, err := s.ScaleBy(context.Background(), Workload{Kind: "Deployment", Namespace: "ns", Name: "gone"}, 1, 10)
	if err == nil || !strings.Contains(err.Error(), "deployment ns/gone") {
		t.Errorf("missing Deployment: %v, want an error naming it", err)
	}
}

func TestKeptRejectsABadRecord(t *testing.T) {
	s := Scaler{Clientset: workloadCluster(t, deployment("web", 2, map[string]string{AnnotationReplicas: "many"}))}
	_, err := s.Kept(context.Background(), []Workload{{Kind: "Deployment", Namespace: "ns", Name: "web"}})
	if err == nil || !strings.Contains(err.Error(), `keptn.sh/replicas="many"`) {
		t.Errorf("error = %v, want one naming the annotation", err)
	}
}

func TestAutoscaler(t *testing.T) {
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web-hpa", Namespace: "ns"},
		Spec:       autoscalingv2.HorizontalPodAutoscalerSpec{ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "web"}, MaxReplicas: 3},
	}
	s := Scaler{Clientset: fake.NewClientset(hpa)}
	for w, want := range map[Workload]string{
		{Kind: "Deployment", Namespace: "ns", Name: "web"}:    "web-hpa",
		{Kind: "StatefulSet", Namespace: "ns", Name: "web"}:   "",
		{Kind: "Deployment", Namespace: "ns", Name: "api"}:    "",
		{Kind: "Deployment", Namespace: "other", Name: "web"}: "",
	} {
		got, err := s.Autoscaler(context.Background(), w)
		if err != nil || got != want {
			t.Errorf("Autoscaler(%s) = %q, %v; want %q", w, got, err, want)
		}
	}
}

func TestWaitScaled(t *testing.T) {
	d := deployment("web", 3, nil)
	d.Generation, d.Status = 2, appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 4, ReadyReplicas: 3}
	cs := fake.NewClientset(d)
	s := Scaler{Clientset: cs}
	web := []Workload{{Kind: "Deployment", Namespace: "ns", Name: "web"}}

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := s.WaitScaled(ctx, web)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "deployment ns/web: 3 of 3 replicas ready, 4 running") {
		t.Fatalf("error = %v, want a timeout naming the surplus replica", err)
	}

	go func() {
		time.Sleep(100 * time.Millisecond)
		d.Status.Replicas = 3
		_, _ = cs.AppsV1().Deployments("ns").UpdateStatus(context.Background(), d, metav1.UpdateOptions{})
	}()
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.WaitScaled(ctx, web); err != nil {
		t.Fatal(err)
	}
}

// TestScaleByRetriesAConflict: the workload changes between ScaleBy's read
// of its scale and its write (the API server answers 409 "the object has
// been modified", as it does when a controller wrote the workload in
// between). ScaleBy reads it again and adds delta to what it finds.
func TestScaleByRetriesAConflict(t *testing.T) {
	cs := workloadCluster(t, deployment("web", 2, nil))
	conflicts := 0
	cs.PrependReactor("update", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "scale" || conflicts > 0 {
			return false, nil, nil
		}
		conflicts++
		d, err := cs.Tracker().Get(appsv1.SchemeGroupVersion.WithResource("deployments"), "ns", "web")
		if err != nil {
			return true, nil, err
		}
		d.(*appsv1.Deployment).Spec.Replicas = ptr(3) // someone else's write
		if err := cs.Tracker().Update(appsv1.SchemeGroupVersion.WithResource("deployments"), d, "ns"); err != nil {
			return true, nil, err
		}
		return true, nil, apierrors.NewConflict(appsv1.Resource("deployments"), "web", errors.New("the object has been modified; please apply your changes to the latest version and try again"))
	})
	web := Workload{Kind: "Deployment", Namespace: "ns", Name: "web"}
	ch, err := Scaler{Clientset: cs}.ScaleBy(context.Background(), web, 1, 10)
	if err != nil {
		t.Fatalf("ScaleBy after a conflict: %v", err)
	}
	if want := (Change{Workload: web, From: 3, To: 4}); ch != want {
		t.Errorf("ScaleBy after a conflict = %v, want %v", ch, want)
	}
}
