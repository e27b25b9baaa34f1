package deployed

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
	"github.com/helm-service/helm-service/pkg/routing"
)

func TestRouteTarget(t *testing.T) {
	for _, tc := range []struct {
		name     string
		side     Side
		services []helm.Service
		want     routing.Target
		err      string
	}{
		{"the primary's Services", Primary, []helm.Service{{Name: "carts-primary", Port: 80}, {Name: "carts-primary-db", Port: 5432}},
			routing.Target{Namespace: ns, Service: "carts", Backends: []routing.Backend{
				{Stable: "carts", Primary: "carts-primary", Canary: "carts-canary", Port: 80},
				{Stable: "carts-db", Primary: "carts-primary-db", Canary: "carts-canary-db", Port: 5432},
			}}, ""},
		{"the canary's Services", Canary, []helm.Service{{Name: "carts-canary", Port: 8080}},
			routing.Target{Namespace: ns, Service: "carts", Backends: []routing.Backend{{Stable: "carts", Primary: "carts-primary", Canary: "carts-canary", Port: 8080}}}, ""},
		{"a Service not named after the release", Primary, []helm.Service{{Name: "carts-primary", Port: 80}, {Name: "db", Port: 5432}}, routing.Target{},
			"the chart's Service db in release carts-primary is not named after the release: blue/green needs every object's name to start with .Release.Name so that primary and canary do not collide"},
		{"no Service", Canary, nil, routing.Target{},
			"release sockshop-staging/carts-canary has no Service: blue/green routes traffic through the chart's Services"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := RouteTarget(ns, "carts", tc.side, tc.services)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("target (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTarget: a blue/green service is routed through its primary's
// Services, whatever the canary's are.
func TestTarget(t *testing.T) {
	canary := record("carts-canary", "carts", "blue_green_service")
	canary.Services = []helm.Service{{Name: "carts-canary", Port: 9090}}
	s := New(ns, "carts", []*helm.Record{record("carts-primary", "carts", "blue_green_service"), canary})
	got, err := s.Target()
	if err != nil {
		t.Fatal(err)
	}
	want := routing.Target{Namespace: ns, Service: "carts", Backends: []routing.Backend{{Stable: "carts", Primary: "carts-primary", Canary: "carts-canary", Port: 80}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("target (-want +got):\n%s", diff)
	}

	_, err = New(ns, "carts", []*helm.Record{canary}).Target()
	if err == nil || err.Error() != "no release sockshop-staging/carts-primary" {
		t.Errorf("target of a canary without a primary: %v, want it named", err)
	}
}

func TestKeptReplicas(t *testing.T) {
	deployment := func(name string, annotations map[string]string) *appsv1.Deployment {
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: annotations}}
	}
	scaler := kube.Scaler{Clientset: fake.NewClientset(
		deployment("carts", map[string]string{kube.AnnotationReplicas: "3"}),
		deployment("carts-worker", nil),
		deployment("broken", map[string]string{kube.AnnotationReplicas: "many"}),
	)}
	withWorkloads := func(names ...string) *helm.Record {
		r := record("carts", "carts", "direct")
		r.Workloads = nil
		for _, n := range names {
			r.Workloads = append(r.Workloads, kube.Workload{Kind: "Deployment", Namespace: ns, Name: n})
		}
		return r
	}
	for _, tc := range []struct {
		name string
		rec  *helm.Record
		want map[kube.Workload]int32
		err  string
	}{
		{"no release", nil, nil, ""},
		{"no workloads", withWorkloads(), nil, ""},
		{"the counts scaling recorded", withWorkloads("carts", "carts-worker", "gone"),
			map[kube.Workload]int32{{Kind: "Deployment", Namespace: ns, Name: "carts"}: 3}, ""},
		{"a record that is not a count", withWorkloads("carts", "broken"), nil,
			`replicas set by scaling on release sockshop-staging/carts: deployment sockshop-staging/broken: annotation keptn.sh/replicas="many" is not a replica count`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := KeptReplicas(context.Background(), scaler, tc.rec)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("kept (-want +got):\n%s", diff)
			}
		})
	}
}
