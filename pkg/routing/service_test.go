package routing

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
)

func releaseService(name string, port int32) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app.kubernetes.io/instance": strings.TrimSuffix(name, "-db")},
			Ports:    []corev1.ServicePort{{Name: "http", Port: port, TargetPort: intstr.FromInt32(port + 1), NodePort: 30000}},
		},
	}
}

var target = Target{Namespace: "ns", Service: "carts", Backends: []Backend{
	{Stable: "carts", Primary: "carts-primary", Canary: "carts-canary"},
	{Stable: "carts-db", Primary: "carts-primary-db", Canary: "carts-canary-db"},
}}

func TestServiceRouterSwitchesSides(t *testing.T) {
	cs := fake.NewClientset(
		releaseService("carts-primary", 80), releaseService("carts-canary", 8080),
		releaseService("carts-primary-db", 5432), releaseService("carts-canary-db", 5432),
	)
	r := ServiceRouter{Clientset: cs}
	ctx := context.Background()
	if _, err := r.Split(ctx, target); !errors.Is(err, ErrNotRouted) {
		t.Fatalf("split before routing: %v, want ErrNotRouted", err)
	}
	steps := []struct {
		split    Split
		instance string
		port     int32
	}{
		{AllCanary, "carts-canary", 8080},
		{AllCanary, "carts-canary", 8080}, // idempotent
		{AllPrimary, "carts-primary", 80},
		{AllCanary, "carts-canary", 8080},
	}
	for i, s := range steps {
		if err := r.Route(ctx, target, s.split); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		got, err := r.Split(ctx, target)
		if err != nil || got != s.split {
			t.Errorf("step %d: split = %v (%v), want %v", i, got, err, s.split)
		}
		svc, err := cs.CoreV1().Services("ns").Get(ctx, "carts", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if svc.Spec.Selector["app.kubernetes.io/instance"] != s.instance || svc.Spec.Ports[0].Port != s.port || svc.Spec.Ports[0].NodePort != 0 {
			t.Errorf("step %d: stable Service selector %v ports %+v, want %s on %d", i, svc.Spec.Selector, svc.Spec.Ports, s.instance, s.port)
		}
		if svc.Labels["app.kubernetes.io/managed-by"] != "helm-service" || svc.Labels["keptn.sh/service"] != "carts" {
			t.Errorf("step %d: labels %v", i, svc.Labels)
		}
		if _, err := cs.CoreV1().Services("ns").Get(ctx, "carts-db", metav1.GetOptions{}); err != nil {
			t.Errorf("step %d: second stable Service: %v", i, err)
		}
	}
}

func TestServiceRouterRefuses(t *testing.T) {
	foreign := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "carts", Namespace: "ns"}}
	cs := fake.NewClientset(releaseService("carts-primary", 80), releaseService("carts-canary", 80), foreign)
	r := ServiceRouter{Clientset: cs}
	one := Target{Namespace: "ns", Service: "carts", Backends: target.Backends[:1]}
	cases := []struct {
		name   string
		target Target
		split  Split
		want   string
	}{
		{"weights", one, Split{Primary: 50, Canary: 50}, "is not possible"},
		{"bad split", one, Split{Primary: 70, Canary: 70}, "add up to 100"},
		{"foreign Service", one, AllPrimary, "not managed by helm-service"},
		{"missing side", Target{Namespace: "ns", Service: "x", Backends: []Backend{{Stable: "x", Primary: "x-primary"}}}, AllPrimary, "read Service x-primary"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := r.Route(context.Background(), c.target, c.split)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error = %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestBlueGreenBackendPairsServicesBySuffix(t *testing.T) {
	b, ok := BlueGreenBackend("carts", "carts-primary", "carts-canary", "carts-canary", "carts-canary-db", 5432)
	if want := (Backend{Stable: "carts-db", Primary: "carts-primary-db", Canary: "carts-canary-db", Port: 5432}); !ok || b != want {
		t.Errorf("got %+v %v, want %+v", b, ok, want)
	}
	if _, ok := BlueGreenBackend("carts", "carts-primary", "carts-canary", "carts-primary", "db", 5432); ok {
		t.Error("a Service not named after its release was paired")
	}
}
