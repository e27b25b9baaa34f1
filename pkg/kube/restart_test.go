package kube

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

func TestRestartStampsThePodTemplate(t *testing.T) {
	at := time.Date(2026, 12, 1, 14, 0, 0, 123456789, time.FixedZone("CET", 3600))
	tests := []struct {
		name    string
		w       Workload
		objects []runtime.Object
		want    map[string]string
		wantErr string
	}{{
		name: "deployment keeps its other annotations",
		w:    Workload{Kind: "Deployment", Namespace: "ns", Name: "carts"},
		objects: []runtime.Object{&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "carts"},
			Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"keep": "me"}}}}}},
		want: map[string]string{"keep": "me", AnnotationRestartedAt: "2026-12-01T13:00:00.123456789Z"},
	}, {
		name:    "statefulset",
		w:       Workload{Kind: "StatefulSet", Namespace: "ns", Name: "db"},
		objects: []runtime.Object{&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "db"}}},
		want:    map[string]string{AnnotationRestartedAt: "2026-12-01T13:00:00.123456789Z"},
	}, {
		name: "statefulset that replaces pods only when they are deleted",
		w:    Workload{Kind: "StatefulSet", Namespace: "ns", Name: "db"},
		objects: []runtime.Object{&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "db"},
			Spec: appsv1.StatefulSetSpec{UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}}}},
		wantErr: "its updateStrategy is OnDelete",
	}, {
		name:    "missing workload",
		w:       Workload{Kind: "Deployment", Namespace: "ns", Name: "gone"},
		wantErr: "restart deployment ns/gone",
	}, {
		name:    "missing statefulset",
		w:       Workload{Kind: "StatefulSet", Namespace: "ns", Name: "gone"},
		wantErr: "restart statefulset ns/gone",
	}, {
		name:    "kind without pods of its own",
		w:       Workload{Kind: "Job", Namespace: "ns", Name: "once"},
		wantErr: "helm-service restarts only Deployments and StatefulSets",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := fake.NewClientset(tt.objects...)
			s := Scaler{Clientset: cs}
			stamp, err := s.Restart(context.Background(), tt.w, at)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Restart() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]string
			switch tt.w.Kind {
			case "Deployment":
				d, _ := cs.AppsV1().Deployments("ns").Get(context.Background(), tt.w.Name, metav1.GetOptions{})
				got = d.Spec.Template.Annotations
			case "StatefulSet":
				st, _ := cs.AppsV1().StatefulSets("ns").Get(context.Background(), tt.w.Name, metav1.GetOptions{})
				got = st.Spec.Template.Annotations
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("pod template annotations (-want +got):\n%s", diff)
			}
			if stamp != tt.want[AnnotationRestartedAt] {
				t.Errorf("Restart() = %q, want the stamp it set, %q", stamp, tt.want[AnnotationRestartedAt])
			}
		})
	}
}

func TestNotRolledOut(t *testing.T) {
	deploymentAt := func(gen, observed int64, replicas, updated, running, available, ready int32) runtime.Object {
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "carts", Generation: gen},
			Spec:       appsv1.DeploymentSpec{Replicas: ptr(replicas)},
			Status:     appsv1.DeploymentStatus{ObservedGeneration: observed, UpdatedReplicas: updated, Replicas: running, AvailableReplicas: available, ReadyReplicas: ready},
		}
	}
	statefulSet := func(gen, observed int64, replicas, updated, ready int32, current, update string) runtime.Object {
		return &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "db", Generation: gen},
			Spec:       appsv1.StatefulSetSpec{Replicas: ptr(replicas)},
			Status:     appsv1.StatefulSetStatus{ObservedGeneration: observed, UpdatedReplicas: updated, ReadyReplicas: ready, CurrentRevision: current, UpdateRevision: update},
		}
	}
	carts := Workload{Kind: "Deployment", Namespace: "ns", Name: "carts"}
	db := Workload{Kind: "StatefulSet", Namespace: "ns", Name: "db"}
	tests := []struct {
		name   string
		w      Workload
		object runtime.Object
		want   string
	}{
		{"deployment rolled out", carts, deploymentAt(2, 2, 2, 2, 2, 2, 2), ""},
		{"spec not seen yet", carts, deploymentAt(3, 2, 2, 2, 2, 2, 2), "the controller has not seen the newest spec yet"},
		{"new pods coming", carts, deploymentAt(2, 2, 2, 1, 3, 2, 2), "1 of 2 replicas updated"},
		{"old pods left", carts, deploymentAt(2, 2, 2, 2, 3, 2, 2), "1 old replicas pending termination"},
		{"new pods not available", carts, deploymentAt(2, 2, 2, 2, 2, 1, 1), "1 of 2 updated replicas available"},
		{"scaled to zero", carts, deploymentAt(2, 2, 0, 0, 0, 0, 0), ""},
		{"statefulset rolled out", db, statefulSet(2, 2, 3, 3, 3, "db-2", "db-2"), ""},
		{"statefulset on its old revision", db, statefulSet(2, 2, 3, 3, 3, "db-1", "db-2"), "3 of 3 replicas updated"},
		{"statefulset not ready", db, statefulSet(2, 2, 3, 3, 2, "db-2", "db-2"), "2 of 3 replicas ready"},
		{"missing", carts, nil, "cannot read it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var objects []runtime.Object
			if tt.object != nil {
				objects = append(objects, tt.object)
			}
			got := Scaler{Clientset: fake.NewClientset(objects...)}.notRolledOut(context.Background(), tt.w)
			if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, tt.want) {
				t.Errorf("notRolledOut() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestWaitRolledOutSaysWhatIsPending(t *testing.T) {
	cs := fake.NewClientset(&appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "carts", Generation: 2},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr(2)},
		Status:     appsv1.DeploymentStatus{ObservedGeneration: 2, UpdatedReplicas: 1, Replicas: 2},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	err := Scaler{Clientset: cs}.WaitRolledOut(ctx, []Workload{{Kind: "Deployment", Namespace: "ns", Name: "carts"}})
	if err == nil || !strings.Contains(err.Error(), "deployment ns/carts: 1 of 2 replicas updated") {
		t.Errorf("WaitRolledOut() = %v, want a timeout naming deployment ns/carts and its updated replicas", err)
	}
}
