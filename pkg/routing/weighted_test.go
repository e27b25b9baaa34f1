package routing

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
)

func newDynamic() *dynamicfake.FakeDynamicClient {
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		HTTPRouteGVR:      "HTTPRouteList",
		VirtualServiceGVR: "VirtualServiceList",
	})
}

var weightedTarget = Target{Namespace: "ns", Service: "carts", Backends: []Backend{{Stable: "carts", Primary: "carts-primary", Canary: "carts-canary", Port: 80}}}

func TestWeightedRouters(t *testing.T) {
	routers := map[string]func(*dynamicfake.FakeDynamicClient, *fake.Clientset) (Router, schema.GroupVersionResource){
		"gatewayapi": func(d *dynamicfake.FakeDynamicClient, cs *fake.Clientset) (Router, schema.GroupVersionResource) {
			return NewGatewayAPIRouter(d, cs, GatewayRef{Name: "public", Namespace: "gateways"}), HTTPRouteGVR
		},
		"istio": func(d *dynamicfake.FakeDynamicClient, cs *fake.Clientset) (Router, schema.GroupVersionResource) {
			return NewIstioRouter(d, cs, []string{"gateways/public"}), VirtualServiceGVR
		},
	}
	for name, newRouter := range routers {
		t.Run(name, func(t *testing.T) {
			cs := fake.NewClientset(releaseService("carts-primary", 80), releaseService("carts-canary", 80))
			dyn := newDynamic()
			r, gvr := newRouter(dyn, cs)
			ctx := context.Background()
			if _, err := r.Split(ctx, weightedTarget); !errors.Is(err, ErrNotRouted) {
				t.Fatalf("split before routing: %v, want ErrNotRouted", err)
			}
			for i, s := range []Split{AllCanary, {Primary: 90, Canary: 10}, {Primary: 90, Canary: 10}, AllPrimary} {
				if err := r.Route(ctx, weightedTarget, s); err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				got, err := r.Split(ctx, weightedTarget)
				if err != nil || got != s {
					t.Errorf("step %d: split = %v (%v), want %v", i, got, err, s)
				}
				svc, err := cs.CoreV1().Services("ns").Get(ctx, "carts", metav1.GetOptions{})
				if err != nil {
					t.Fatalf("step %d: stable Service: %v", i, err)
				}
				if want := "carts-" + map[bool]string{true: "canary", false: "primary"}[s.Canary > s.Primary]; svc.Spec.Selector["app.kubernetes.io/instance"] != want {
					t.Errorf("step %d: stable Service selects %v, want the majority side %s", i, svc.Spec.Selector, want)
				}
			}
			list, err := dyn.Resource(gvr).Namespace("ns").List(ctx, metav1.ListOptions{})
			if err != nil || len(list.Items) != 1 {
				t.Fatalf("objects: %d (%v), want one", len(list.Items), err)
			}
			obj := list.Items[0]
			if obj.GetName() != "carts" || obj.GetLabels()["app.kubernetes.io/managed-by"] != "helm-service" {
				t.Errorf("object %s labels %v", obj.GetName(), obj.GetLabels())
			}
			spec := fmt.Sprint(obj.Object["spec"])
			for _, want := range map[string][]string{
				"gatewayapi": {"name:public", "namespace:gateways", "name:carts-primary", "port:80"},
				"istio":      {"carts.ns.svc.cluster.local", "host:carts-canary.ns.svc.cluster.local", "gateways/public", "mesh"},
			}[name] {
				if !strings.Contains(spec, want) {
					t.Errorf("spec %s does not contain %s", spec, want)
				}
			}
		})
	}
}

func TestWeightedRouterRefuses(t *testing.T) {
	cs := fake.NewClientset(releaseService("carts-primary", 80), releaseService("carts-canary", 80))
	dyn := newDynamic()
	foreign := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
		"metadata": map[string]any{"name": "carts", "namespace": "ns"}, "spec": map[string]any{},
	}}
	if _, err := dyn.Resource(VirtualServiceGVR).Namespace("ns").Create(context.Background(), foreign, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := NewIstioRouter(dyn, cs, nil)
	if err := r.Route(context.Background(), weightedTarget, Split{Primary: 60, Canary: 60}); err == nil || !strings.Contains(err.Error(), "add up to 100") {
		t.Errorf("bad split: %v", err)
	}
	if err := r.Route(context.Background(), weightedTarget, AllPrimary); err == nil || !strings.Contains(err.Error(), "not managed by helm-service") {
		t.Errorf("foreign VirtualService: %v", err)
	}
	if _, err := r.Split(context.Background(), weightedTarget); err == nil || !strings.Contains(err.Error(), "want one http route") {
		t.Errorf("split of a foreign VirtualService: %v", err)
	}
}
