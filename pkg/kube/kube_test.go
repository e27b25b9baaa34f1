package kube

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestEnsureNamespace(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "existing"}})

	created, err := EnsureNamespace(ctx, cs, "existing", nil)
	if err != nil || created {
		t.Errorf("existing namespace: created=%v err=%v, want false nil", created, err)
	}
	created, err = EnsureNamespace(ctx, cs, "sockshop-staging", map[string]string{LabelProject: "sockshop"})
	if err != nil || !created {
		t.Fatalf("new namespace: created=%v err=%v, want true nil", created, err)
	}
	ns, err := cs.CoreV1().Namespaces().Get(ctx, "sockshop-staging", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ns.Labels[LabelManagedBy] != ManagedByValue || ns.Labels[LabelProject] != "sockshop" {
		t.Errorf("labels = %v", ns.Labels)
	}
	existing, _ := cs.CoreV1().Namespaces().Get(ctx, "existing", metav1.GetOptions{})
	if existing.Labels[LabelManagedBy] != "" {
		t.Errorf("an existing namespace was relabelled: %v", existing.Labels)
	}
}

func int32p(i int32) *int32 { return &i }

func TestNotReady(t *testing.T) {
	ready := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "ready", Namespace: "ns", Generation: 1},
		Spec:       appsv1.DeploymentSpec{Replicas: int32p(2)},
		Status:     appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2, ReadyReplicas: 2},
	}
	stuck := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "stuck", Namespace: "ns", Generation: 2},
		Spec:       appsv1.DeploymentSpec{Replicas: int32p(3)},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 1,
			Conditions: []appsv1.DeploymentCondition{
				{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionFalse, Message: "Deployment does not have minimum availability."},
				{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Message: "ReplicaSet is progressing."},
			}},
	}
	db := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "ns", Generation: 1},
		Spec:       appsv1.StatefulSetSpec{Replicas: int32p(1)},
		Status:     appsv1.StatefulSetStatus{ObservedGeneration: 1, ReadyReplicas: 0},
	}
	cs := fake.NewClientset(ready, stuck, db)
	got := NotReady(context.Background(), cs, []Workload{
		{Kind: "Deployment", Namespace: "ns", Name: "ready"},
		{Kind: "Deployment", Namespace: "ns", Name: "stuck"},
		{Kind: "StatefulSet", Namespace: "ns", Name: "db"},
		{Kind: "Deployment", Namespace: "ns", Name: "gone"},
		{Kind: "ConfigMap", Namespace: "ns", Name: "ignored"},
	})
	if len(got) != 3 {
		t.Fatalf("NotReady = %q, want 3 lines (stuck, db, gone)", got)
	}
	for i, want := range []string{
		"deployment ns/stuck: 3 of 3 replicas updated, 1 available (Available=False: Deployment does not have minimum availability.)",
		"statefulset ns/db: 0 of 1 replicas ready",
		"deployment ns/gone: cannot read it",
	} {
		if !strings.HasPrefix(got[i], want) {
			t.Errorf("line %d = %q, want prefix %q", i, got[i], want)
		}
	}
}

func TestDeleteIfEmpty(t *testing.T) {
	ns := func(name string, managed bool) *corev1.Namespace {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if managed {
			n.Labels = map[string]string{LabelManagedBy: ManagedByValue}
		}
		return n
	}
	ownedPod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "carts-abc", Namespace: "empty", OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "carts-1"}}}}
	cs := fake.NewClientset(
		ns("empty", true), ownedPod,
		ns("theirs", false),
		ns("busy", true), &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "orders", Namespace: "busy"}},
		ns("helm", true), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sh.helm.release.v1.orders.v1", Namespace: "helm", Labels: map[string]string{"owner": "helm"}}},
		ns("pod", true), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "debug", Namespace: "pod"}},
	)
	n := Namespaces{Clientset: cs}
	for name, want := range map[string]bool{"empty": true, "theirs": false, "busy": false, "helm": false, "pod": false, "missing": false} {
		got, _, err := n.DeleteIfEmpty(context.Background(), name)
		if err != nil || got != want {
			t.Errorf("DeleteIfEmpty(%s) = %v, %v; want %v", name, got, err, want)
		}
		_, err = cs.CoreV1().Namespaces().Get(context.Background(), name, metav1.GetOptions{})
		if exists := err == nil; name != "missing" && exists == want {
			t.Errorf("namespace %s exists = %v after DeleteIfEmpty returned %v", name, exists, want)
		}
	}
}

func TestListNamespaces(t *testing.T) {
	cs := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "b"}}, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a"}})
	names, err := Namespaces{Clientset: cs}.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, ",") != "a,b" {
		t.Errorf("names = %v, want a and b", names)
	}
}

// A namespace helm-service creates carries the operator's labels (Pod
// Security by default) besides its own; one that exists is left as it is.
func TestEnsureLabelsTheNamespacesItCreates(t *testing.T) {
	cs := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "theirs"}})
	n := Namespaces{Clientset: cs, Labels: map[string]string{"pod-security.kubernetes.io/enforce": "baseline"}}
	for _, name := range []string{"shop-dev", "theirs"} {
		if err := n.Ensure(context.Background(), name, map[string]string{LabelProject: "shop"}); err != nil {
			t.Fatal(err)
		}
	}
	made, _ := cs.CoreV1().Namespaces().Get(context.Background(), "shop-dev", metav1.GetOptions{})
	if made.Labels["pod-security.kubernetes.io/enforce"] != "baseline" || made.Labels[LabelProject] != "shop" || made.Labels[LabelManagedBy] != ManagedByValue {
		t.Errorf("created namespace labels %v", made.Labels)
	}
	theirs, _ := cs.CoreV1().Namespaces().Get(context.Background(), "theirs", metav1.GetOptions{})
	if len(theirs.Labels) != 0 {
		t.Errorf("an existing namespace was relabelled: %v", theirs.Labels)
	}
}

func TestParseNamespaceLabels(t *testing.T) {
	got, err := ParseNamespaceLabels([]string{"pod-security.kubernetes.io/enforce=restricted", " team=shop "})
	if err != nil || len(got) != 2 || got["pod-security.kubernetes.io/enforce"] != "restricted" || got["team"] != "shop" {
		t.Fatalf("ParseNamespaceLabels = %v, %v", got, err)
	}
	for _, bad := range []string{"novalue", "=x", "bad key!=x", "k=bad value!"} {
		if _, err := ParseNamespaceLabels([]string{bad}); err == nil || !strings.Contains(err.Error(), "NAMESPACE_LABELS") {
			t.Errorf("ParseNamespaceLabels(%q) = %v, want an error naming NAMESPACE_LABELS", bad, err)
		}
	}
}
