package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestDeploymentReady(t *testing.T) {
	two := int32(2)
	deployment := func(generation, observed int64, replicas, updated, ready, available int32, conds ...appsv1.DeploymentCondition) *appsv1.Deployment {
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "svc", Generation: generation},
			Spec:       appsv1.DeploymentSpec{Replicas: &two},
			Status: appsv1.DeploymentStatus{ObservedGeneration: observed, Replicas: replicas, UpdatedReplicas: updated,
				ReadyReplicas: ready, AvailableReplicas: available, Conditions: conds},
		}
	}
	for _, tc := range []struct {
		name       string
		d          *appsv1.Deployment
		generation int64
		want       bool
	}{
		{"every replica of the generation ready", deployment(2, 2, 2, 2, 2, 2), 2, true},
		{"the applied generation not seen by the controller", deployment(2, 1, 2, 2, 2, 2), 2, false},
		{"an older generation than applied", deployment(1, 1, 2, 2, 2, 2), 2, false},
		{"one replica not ready", deployment(2, 2, 2, 2, 1, 1), 2, false},
		{"a pod of the old template left", deployment(2, 2, 3, 2, 3, 3), 2, false},
		{"not every replica updated", deployment(2, 2, 2, 1, 2, 2), 2, false},
		{"progress deadline exceeded", deployment(2, 2, 2, 2, 2, 2, appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse}), 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := deploymentReady(tc.d, tc.generation); got != tc.want {
				t.Errorf("deploymentReady = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestSortedObjects splits a manifest as Helm stores it in a release
// record into objects in Helm's install order.
func TestSortedObjects(t *testing.T) {
	manifest := `---
# Source: carts/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: svc-0000
spec:
  replicas: 1
---
# Source: carts/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: svc-0000
---
# Source: carts/templates/configmap.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: svc-0000-config
data:
  greeting: hello
`
	objs, err := sortedObjects(manifest)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, o.GetKind()+"/"+o.GetName())
	}
	want := []string{"ConfigMap/svc-0000-config", "Service/svc-0000", "Deployment/svc-0000"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
}

func TestDecodeObjectsRefusesNamelessObjects(t *testing.T) {
	_, err := decodeObjects([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n"))
	if err == nil || !strings.Contains(err.Error(), "without kind or name") {
		t.Errorf("decodeObjects of a nameless object: %v, want an error saying it has no name", err)
	}
}
