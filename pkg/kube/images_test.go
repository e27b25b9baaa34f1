package kube

import (
	"context"
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestImagesReadsThePodTemplate(t *testing.T) {
	pod := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "carts:2"}, {Name: "proxy", Image: "envoy:1"}}}}
	cs := fake.NewClientset(
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "carts"}, Spec: appsv1.DeploymentSpec{Template: pod}},
		&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "db"}, Spec: appsv1.StatefulSetSpec{Template: pod}},
	)
	for _, w := range []Workload{{Kind: "Deployment", Namespace: "ns", Name: "carts"}, {Kind: "StatefulSet", Namespace: "ns", Name: "db"}} {
		images, err := Images(context.Background(), cs, w)
		if err != nil || fmt.Sprint(images) != "[carts:2 envoy:1]" {
			t.Errorf("%s: %v, %v", w, images, err)
		}
	}
	if _, err := Images(context.Background(), cs, Workload{Kind: "Deployment", Namespace: "ns", Name: "gone"}); err == nil {
		t.Error("a missing Deployment gave no error")
	}
	if _, err := Images(context.Background(), cs, Workload{Kind: "DaemonSet", Namespace: "ns", Name: "carts"}); err == nil {
		t.Error("a DaemonSet gave no error")
	}
}
