package routing

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// VirtualServiceGVR is the Istio VirtualService resource.
var VirtualServiceGVR = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}

// NewIstioRouter returns a router that writes one VirtualService per stable
// endpoint, named after it, for the hosts <stable> and
// <stable>.<namespace>.svc.cluster.local, whose only HTTP route splits
// traffic between the primary's and the canary's Service by weight. Primary
// and canary are distinct Services, so no DestinationRule subsets are
// needed. gateways, when given, are attached as well (for ingress traffic).
func NewIstioRouter(dyn dynamic.Interface, cs kubernetes.Interface, gateways []string) Router {
	return weightedRouter{
		dynamic: dyn,
		stable:  ServiceRouter{Clientset: cs},
		gvr:     VirtualServiceGVR,
		kind:    "VirtualService",
		spec: func(t Target, b Backend, s Split) map[string]any {
			host := func(name string) string { return name + "." + t.Namespace + ".svc.cluster.local" }
			destination := func(name string, weight int) map[string]any {
				return map[string]any{
					"destination": map[string]any{"host": host(name), "port": map[string]any{"number": int64(b.Port)}},
					"weight":      int64(weight),
				}
			}
			spec := map[string]any{
				"hosts": []any{b.Stable, host(b.Stable)},
				"http": []any{map[string]any{"route": []any{
					destination(b.Primary, s.Primary),
					destination(b.Canary, s.Canary),
				}}},
			}
			if len(gateways) > 0 {
				gw := []any{"mesh"}
				for _, g := range gateways {
					gw = append(gw, g)
				}
				spec["gateways"] = gw
			}
			return spec
		},
		split: func(obj *unstructured.Unstructured, b Backend) (Split, error) {
			http, _, _ := unstructured.NestedSlice(obj.Object, "spec", "http")
			if len(http) != 1 {
				return Split{}, fmt.Errorf("want one http route, found %d", len(http))
			}
			route, _ := http[0].(map[string]any)
			dests, _, _ := unstructured.NestedSlice(route, "route")
			return weightsOf(dests, b, func(m map[string]any) string {
				host, _, _ := unstructured.NestedString(m, "destination", "host")
				return host
			})
		},
	}
}
