package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/helm-service/helm-service/eventbus"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/routing"
)

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

func dynamicClient(t *testing.T) dynamic.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", suite.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return dyn
}

// installCRD creates a CRD from test/testdata/crds (or keeps the one there)
// and waits until it is established.
func installCRD(t *testing.T, dyn dynamic.Interface, file string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("../testdata/crds", file))
	if err != nil {
		t.Fatal(err)
	}
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(data, &obj.Object); err != nil {
		t.Fatal(err)
	}
	if _, err := dyn.Resource(crdGVR).Create(ctx(t), obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create CRD %s: %v", obj.GetName(), err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		crd, err := dyn.Resource(crdGVR).Get(ctx(t), obj.GetName(), metav1.GetOptions{})
		if err == nil {
			conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
			for _, c := range conds {
				m, _ := c.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("CRD %s not established within a minute (%v)", obj.GetName(), err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// startInstance runs another helm-service with its own NATS server and the
// given extra settings, and returns an env that talks to it.
func startInstance(t *testing.T, vars map[string]string) *env {
	t.Helper()
	ns, err := eventbus.StartEmbedded(eventbus.EmbeddedOptions{Listen: "127.0.0.1:0", DataDir: filepath.Join(t.TempDir(), "nats")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	return startInstanceOn(t, ns.ClientURL(), vars)
}

// startInstanceOn runs another helm-service on the NATS server at natsURL.
func startInstanceOn(t *testing.T, natsURL string, vars map[string]string) *env {
	t.Helper()
	dir := t.TempDir()
	all := map[string]string{
		"NATS_URL": natsURL, "KUBECONFIG": suite.kubeconfig, "CHART_DIR": suite.chartDir,
		"WAIT_TIMEOUT": "2m", "HTTP_ADDR": "127.0.0.1:0", "LOG_LEVEL": "debug",
		"DELETE_EVENT_SOURCES": "e2e-test,shipyard-controller", // the suite plays the control plane
	}
	for k, v := range vars {
		all[k] = v
	}
	svc, err := startService(suite.binary, filepath.Join(dir, "service.log"), all)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := svc.stop(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			svc.dumpLog(os.Stderr)
		}
	})
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	answers, err := listen(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &env{kubeconfig: suite.kubeconfig, binary: suite.binary, chartDir: suite.chartDir, clientset: suite.clientset, nats: nc, answers: answers, service: svc, runID: suite.runID}
}

// weights reads the primary and canary weights written for the stable
// endpoint <service> of namespace.
type weightReader func(t *testing.T, ns, service string) (primary, canary int64)

func readWeights(dyn dynamic.Interface, gvr schema.GroupVersionResource, path []string, entries string, nameOf func(map[string]any) string) weightReader {
	return func(t *testing.T, ns, service string) (int64, int64) {
		t.Helper()
		obj, err := dyn.Resource(gvr).Namespace(ns).Get(ctx(t), service, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s %s/%s: %v", gvr.Resource, ns, service, err)
		}
		list, _, _ := unstructured.NestedSlice(obj.Object, path...)
		if len(list) != 1 {
			t.Fatalf("%s %s/%s has %d entries at %v, want 1", gvr.Resource, ns, service, len(list), path)
		}
		first, _ := list[0].(map[string]any)
		refs, _, _ := unstructured.NestedSlice(first, entries)
		var p, c int64 = -1, -1
		for _, r := range refs {
			m, _ := r.(map[string]any)
			w, _, _ := unstructured.NestedInt64(m, "weight")
			switch strings.SplitN(nameOf(m), ".", 2)[0] {
			case service + "-primary":
				p = w
			case service + "-canary":
				c = w
			}
		}
		if p < 0 || c < 0 {
			t.Fatalf("%s %s/%s does not weigh both primary and canary: %v", gvr.Resource, ns, service, obj.Object["spec"])
		}
		return p, c
	}
}

// TestWeightedRouters runs the blue/green life cycle with the gatewayapi
// router (route mode canary) and the istio router (route mode dark), each
// on a helm-service of its own, and checks the weights at every step. Only
// the CRDs are installed; no gateway or mesh acts on the objects.
func TestWeightedRouters(t *testing.T) {
	dyn := dynamicClient(t)
	cases := []struct {
		router, mode, crd string
		weights           weightReader
	}{
		{"gatewayapi", "canary", "gateway.networking.k8s.io_httproutes.yaml", readWeights(dyn,
			schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"},
			[]string{"spec", "rules"}, "backendRefs", func(m map[string]any) string { s, _ := m["name"].(string); return s })},
		{"istio", "dark", "networking.istio.io_virtualservices.yaml", readWeights(dyn,
			schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"},
			[]string{"spec", "http"}, "route", func(m map[string]any) string {
				s, _, _ := unstructured.NestedString(m, "destination", "host")
				return s
			})},
	}
	for _, c := range cases {
		t.Run(c.router, func(t *testing.T) {
			installCRD(t, dyn, c.crd)
			e := startInstance(t, map[string]string{"TRAFFIC_ROUTER": c.router, "ROUTE_MODE": c.mode})
			project, stage := suite.project("w"+c.router[:2]), "staging"
			ns := project + "-" + stage
			// While a canary is under test: all to the canary, or (dark)
			// all to the primary.
			var testing0, testing1 int64 = 0, 100
			wantURI := "http://carts." + ns + ":80"
			if c.mode == "dark" {
				testing0, testing1, wantURI = 100, 0, "http://carts-canary."+ns+":80"
			}
			expect := func(step string, p, cn int64) {
				t.Helper()
				gp, gc := c.weights(t, ns, "carts")
				if gp != p || gc != cn {
					t.Errorf("%s: weights primary %d canary %d, want %d/%d", step, gp, gc, p, cn)
				} else {
					t.Logf("%s: primary %d, canary %d", step, gp, gc)
				}
				side := "primary"
				if cn > p {
					side = "canary"
				}
				if got := routedTo(t, ns, "carts", "carts"); got != side {
					t.Errorf("%s: stable Service routes to %s, want the majority side %s", step, got, side)
				}
			}

			data := e.deployBlueGreen(t, project, stage, "carts", map[string]any{"image": "example/carts:1"})
			if u := data.Deployment.DeploymentURIsLocal; len(u) != 1 || u[0] != wantURI {
				t.Errorf("local URIs = %v, want [%s]", u, wantURI)
			}
			expect("v1 deployed", testing0, testing1)
			e.deployBlueGreen(t, project, stage, "carts", map[string]any{"image": "example/carts:2"})
			expect("v2 deployed", testing0, testing1)
			if img := image(t, ns, "carts-canary"); img != "example/carts:2" {
				t.Errorf("canary runs %s, want example/carts:2", img)
			}
			rel, _ := e.runTask(t, "release", lifecycleTrigger(project, stage, "carts", "pass"))
			expect("v2 promoted", 100, 0)
			if rel.Release == nil || rel.Release.Traffic == nil || *rel.Release.Traffic != (events.Traffic{Primary: 100}) {
				t.Errorf("release outcome = %+v, want the router to report 100%% primary", rel.Release)
			}
			if img, r := image(t, ns, "carts-primary"), replicas(t, ns, "carts-canary"); img != "example/carts:2" || r != 0 {
				t.Errorf("after promotion primary runs %s and canary has %d replicas, want example/carts:2 and 0", img, r)
			}
			e.deployBlueGreen(t, project, stage, "carts", map[string]any{"image": "example/carts:3"})
			expect("v3 deployed", testing0, testing1)
			e.runTask(t, "release", lifecycleTrigger(project, stage, "carts", "fail"))
			expect("v3 release failed", 100, 0)
			if img, r := image(t, ns, "carts-primary"), replicas(t, ns, "carts-canary"); img != "example/carts:2" || r != 0 {
				t.Errorf("after a failed release primary runs %s and canary has %d replicas, want example/carts:2 and 0", img, r)
			}
			e.deployBlueGreen(t, project, stage, "carts", map[string]any{"image": "example/carts:4"})
			expect("v4 deployed", testing0, testing1)
			e.runTask(t, "rollback", map[string]any{"project": project, "stage": stage, "service": "carts"})
			expect("v4 rolled back", 100, 0)
			if img := image(t, ns, "carts-primary"); img != "example/carts:2" {
				t.Errorf("after rollback primary runs %s, want example/carts:2", img)
			}

			// Removing the service removes the router's objects with it.
			kind, gvr := "HTTPRoute", routing.HTTPRouteGVR
			if c.router == "istio" {
				kind, gvr = "VirtualService", routing.VirtualServiceGVR
			}
			_, out := e.serviceDeleted(t, project, "carts")
			want := []string{kind + " " + ns + "/carts", "Service " + ns + "/carts"}
			if out.Status != events.StatusSucceeded || out.Removed == nil || !slices.Equal(out.Removed.RoutingObjects, want) {
				t.Errorf("service removal: %s %q, routing objects %+v; want %v", out.Status, out.Message, out.Removed, want)
			}
			if _, err := dyn.Resource(gvr).Namespace(ns).Get(ctx(t), "carts", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("%s %s/carts after removal: %v, want NotFound", kind, ns, err)
			}
		})
	}
}
