package routing

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// HTTPRouteGVR is the Gateway API HTTPRoute resource.
var HTTPRouteGVR = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}

// GatewayRef is the Gateway an HTTPRoute attaches to. With no name, each
// HTTPRoute attaches to its stable Service instead (the Gateway API's mesh
// profile, GAMMA).
type GatewayRef struct {
	Name      string
	Namespace string
}

// NewGatewayAPIRouter returns a router that writes one HTTPRoute per stable
// endpoint, named after it, whose only rule splits traffic between the
// primary's and the canary's Service by backendRefs weights.
func NewGatewayAPIRouter(dyn dynamic.Interface, cs kubernetes.Interface, gw GatewayRef) Router {
	return weightedRouter{
		dynamic: dyn,
		stable:  ServiceRouter{Clientset: cs},
		gvr:     HTTPRouteGVR,
		kind:    "HTTPRoute",
		spec: func(t Target, b Backend, s Split) map[string]any {
			parent := map[string]any{"group": "", "kind": "Service", "name": b.Stable, "port": int64(b.Port)}
			if gw.Name != "" {
				parent = map[string]any{"name": gw.Name}
				if gw.Namespace != "" {
					parent["namespace"] = gw.Namespace
				}
			}
			return map[string]any{
				"parentRefs": []any{parent},
				"rules": []any{map[string]any{"backendRefs": []any{
					map[string]any{"name": b.Primary, "port": int64(b.Port), "weight": int64(s.Primary)},
					map[string]any{"name": b.Canary, "port": int64(b.Port), "weight": int64(s.Canary)},
				}}},
			}
		},
		split: func(obj *unstructured.Unstructured, b Backend) (Split, error) {
			rules, _, _ := unstructured.NestedSlice(obj.Object, "spec", "rules")
			if len(rules) != 1 {
				return Split{}, fmt.Errorf("want one rule, found %d", len(rules))
			}
			rule, _ := rules[0].(map[string]any)
			refs, _, _ := unstructured.NestedSlice(rule, "backendRefs")
			return weightsOf(refs, b, func(m map[string]any) string {
				name, _, _ := unstructured.NestedString(m, "name")
				return name
			})
		},
	}
}
