package routing

import (
	"context"
	"slices"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestRemoveDeletesOnlyTheServicesRouting(t *testing.T) {
	ctx := context.Background()
	routed := Target{Namespace: "ns", Service: "carts", Backends: []Backend{{Stable: "carts", Primary: "carts-primary", Canary: "carts-canary", Port: 80}}}
	other := Target{Namespace: "ns", Service: "orders", Backends: []Backend{{Stable: "orders", Primary: "orders-primary", Canary: "orders-canary", Port: 80}}}
	for name, gvr := range map[string]schema.GroupVersionResource{"gatewayapi": HTTPRouteGVR, "istio": VirtualServiceGVR} {
		t.Run(name, func(t *testing.T) {
			cs := fake.NewClientset(
				releaseService("carts-primary", 80), releaseService("carts-canary", 80),
				releaseService("orders-primary", 80), releaseService("orders-canary", 80),
			)
			dyn := newDynamic()
			r := NewGatewayAPIRouter(dyn, cs, GatewayRef{})
			if name == "istio" {
				r = NewIstioRouter(dyn, cs, nil)
			}
			for _, tg := range []Target{routed, other} {
				if err := r.Route(ctx, tg, AllPrimary); err != nil {
					t.Fatal(err)
				}
			}
			removed, err := r.Remove(ctx, "ns", "carts")
			if err != nil {
				t.Fatal(err)
			}
			kind := "HTTPRoute"
			if name == "istio" {
				kind = "VirtualService"
			}
			if want := []string{kind + " ns/carts", "Service ns/carts"}; !slices.Equal(removed, want) {
				t.Errorf("removed %v, want %v", removed, want)
			}
			if _, err := dyn.Resource(gvr).Namespace("ns").Get(ctx, "orders", metav1.GetOptions{}); err != nil {
				t.Errorf("the other service's %s: %v", kind, err)
			}
			if _, err := cs.CoreV1().Services("ns").Get(ctx, "orders", metav1.GetOptions{}); err != nil {
				t.Errorf("the other service's stable Service: %v", err)
			}
			if _, err := cs.CoreV1().Services("ns").Get(ctx, "carts-primary", metav1.GetOptions{}); err != nil {
				t.Errorf("the primary's own Service belongs to its release, not the router: %v", err)
			}
			again, err := r.Remove(ctx, "ns", "carts")
			if err != nil || len(again) != 0 {
				t.Errorf("second removal: %v, %v; want nothing", again, err)
			}
		})
	}
}

func TestRemoveWithoutTheResourceType(t *testing.T) {
	// A cluster without the Gateway API: the list fails with NotFound and
	// only the stable Services are removed.
	dyn := newDynamic()
	dyn.PrependReactor("list", "httproutes", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewNotFound(HTTPRouteGVR.GroupResource(), "")
	})
	cs := fake.NewClientset(releaseService("carts-primary", 80), releaseService("carts-canary", 80))
	routed := Target{Namespace: "ns", Service: "carts", Backends: []Backend{{Stable: "carts", Primary: "carts-primary", Canary: "carts-canary", Port: 80}}}
	if err := (ServiceRouter{Clientset: cs}).Route(context.Background(), routed, AllPrimary); err != nil {
		t.Fatal(err)
	}
	removed, err := NewGatewayAPIRouter(dyn, cs, GatewayRef{}).Remove(context.Background(), "ns", "carts")
	if err != nil || !slices.Equal(removed, []string{"Service ns/carts"}) {
		t.Errorf("removed %v, %v; want only the stable Service and no error", removed, err)
	}
}
