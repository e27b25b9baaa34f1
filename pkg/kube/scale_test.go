package kube

import (
	"context"
	"fmt"
	"strings"
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// scaleCluster serves the scale subresource of workloads from a map of
// replicas, and records every update.
func scaleCluster(replicas map[string]int32) (*fake.Clientset, *[]string) {
	cs := fake.NewClientset()
	var updates []string
	for _, resource := range []string{"deployments", "statefulsets"} {
		cs.PrependReactor("get", resource, func(a k8stesting.Action) (bool, runtime.Object, error) {
			g := a.(k8stesting.GetAction)
			if g.GetSubresource() != "scale" {
				return false, nil, nil
			}
			r, ok := replicas[resource+"/"+g.GetName()]
			if !ok {
				return true, nil, apierrors.NewNotFound(schema.GroupResource{Group: "apps", Resource: resource}, g.GetName())
			}
			return true, &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: g.GetName()}, Spec: autoscalingv1.ScaleSpec{Replicas: r}}, nil
		})
		cs.PrependReactor("update", resource, func(a k8stesting.Action) (bool, runtime.Object, error) {
			u := a.(k8stesting.UpdateAction)
			if u.GetSubresource() != "scale" {
				return false, nil, nil
			}
			s := u.GetObject().(*autoscalingv1.Scale)
			updates = append(updates, fmt.Sprintf("%s/%s=%d", resource, s.Name, s.Spec.Replicas))
			return true, s, nil
		})
	}
	return cs, &updates
}

func TestScale(t *testing.T) {
	cs, updates := scaleCluster(map[string]int32{"deployments/web": 2, "statefulsets/db": 1})
	err := Scaler{Clientset: cs}.Scale(context.Background(), []Workload{
		{Kind: "Deployment", Namespace: "ns", Name: "web"},
		{Kind: "StatefulSet", Namespace: "ns", Name: "db"},
		{Kind: "DaemonSet", Namespace: "ns", Name: "log-shipper"},
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(*updates, " "); got != "deployments/web=0 statefulsets/db=0" {
		t.Errorf("updates = %q", got)
	}
}

func TestScaleUpFromZero(t *testing.T) {
	cs, updates := scaleCluster(map[string]int32{"deployments/web": 0, "deployments/api": 3, "statefulsets/db": 0})
	err := Scaler{Clientset: cs}.ScaleUpFromZero(context.Background(), []Workload{
		{Kind: "Deployment", Namespace: "ns", Name: "web"},
		{Kind: "Deployment", Namespace: "ns", Name: "api"},
		{Kind: "Deployment", Namespace: "ns", Name: "new"},
		{Kind: "StatefulSet", Namespace: "ns", Name: "db"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(*updates, " "); got != "deployments/web=1 statefulsets/db=1" {
		t.Errorf("updates = %q, want only the workloads at zero scaled to one", got)
	}
}
