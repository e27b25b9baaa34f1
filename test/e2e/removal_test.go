package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/nats-io/nats.go"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/helm-service/helm-service/eventbus"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/vargroups"
)

// keptTemplate is a chart template of an object Helm keeps on uninstall:
// a ServiceAccount, a kind nothing else stops a namespace's deletion for.
const keptTemplate = `apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ .Release.Name }}-keep
  annotations:
    helm.sh/resource-policy: keep
`

var httpRouteGVR = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}

// namespaceStays fails unless the namespace exists and is not being
// deleted.
func namespaceStays(t *testing.T, ns string) {
	t.Helper()
	got, err := suite.clientset.CoreV1().Namespaces().Get(ctx(t), ns, metav1.GetOptions{})
	if err != nil {
		t.Errorf("namespace %s: %v, want it kept", ns, err)
		return
	}
	if got.DeletionTimestamp != nil {
		t.Errorf("namespace %s is being deleted, want it kept", ns)
	}
}

// TestDeleteServiceKeepsNamespacesWithLeftovers: with
// DELETE_EMPTY_NAMESPACES=true, removing the only service of a namespace
// does not delete the namespace while it holds a ConfigMap or a
// PersistentVolumeClaim someone else made, an object Helm kept for its
// helm.sh/resource-policy, or a custom resource; the answer says why, and
// the object is still there.
func TestDeleteServiceKeepsNamespacesWithLeftovers(t *testing.T) {
	inst := startInstance(t, map[string]string{"DELETE_EMPTY_NAMESPACES": "true", "NATS_QUEUE_GROUP": "helm-service-left"})
	dyn := dynamicClient(t)
	installCRD(t, dyn, "gateway.networking.k8s.io_httproutes.yaml")

	for _, c := range []struct {
		name string
		// chart adds to the service's chart before it is deployed.
		chart func(t *testing.T, dir string)
		// leave creates the leftover in the namespace after the deployment.
		leave func(t *testing.T, ns string)
		// reason is what the answer must say about the namespace.
		reason []string
		// stays checks that the leftover is still there.
		stays func(t *testing.T, ns string) error
	}{{
		name: "foreign configmap",
		leave: func(t *testing.T, ns string) {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings"}, Data: map[string]string{"mode": "fast"}}
			if _, err := suite.clientset.CoreV1().ConfigMaps(ns).Create(ctx(t), cm, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		},
		reason: []string{"ConfigMap settings"},
		stays: func(t *testing.T, ns string) error {
			_, err := suite.clientset.CoreV1().ConfigMaps(ns).Get(ctx(t), "settings", metav1.GetOptions{})
			return err
		},
	}, {
		name: "persistent volume claim",
		leave: func(t *testing.T, ns string) {
			pvc := &corev1.PersistentVolumeClaim{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}
			if _, err := suite.clientset.CoreV1().PersistentVolumeClaims(ns).Create(ctx(t), pvc, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		},
		reason: []string{"PersistentVolumeClaim data"},
		stays: func(t *testing.T, ns string) error {
			_, err := suite.clientset.CoreV1().PersistentVolumeClaims(ns).Get(ctx(t), "data", metav1.GetOptions{})
			return err
		},
	}, {
		name: "object kept by resource policy",
		chart: func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "templates", "kept.yaml"), []byte(keptTemplate), 0o644); err != nil {
				t.Fatal(err)
			}
		},
		reason: []string{"ServiceAccount carts-keep", "helm.sh/resource-policy: keep"},
		stays: func(t *testing.T, ns string) error {
			_, err := suite.clientset.CoreV1().ServiceAccounts(ns).Get(ctx(t), "carts-keep", metav1.GetOptions{})
			return err
		},
	}, {
		name: "custom resource",
		leave: func(t *testing.T, ns string) {
			route := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
				"metadata": map[string]any{"name": "shop-route"},
				"spec":     map[string]any{"hostnames": []any{"shop.example.com"}},
			}}
			if _, err := dyn.Resource(httpRouteGVR).Namespace(ns).Create(ctx(t), route, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		},
		reason: []string{"HTTPRoute shop-route", "gateway.networking.k8s.io"},
		stays: func(t *testing.T, ns string) error {
			_, err := dyn.Resource(httpRouteGVR).Namespace(ns).Get(ctx(t), "shop-route", metav1.GetOptions{})
			return err
		},
	}} {
		t.Run(c.name, func(t *testing.T) {
			project := suite.project("left" + strings.ReplaceAll(c.name, " ", "")[:6])
			ns := project + "-dev"
			if c.chart != nil {
				dir := filepath.Join(suite.chartDir, project, "carts")
				if err := os.CopyFS(dir, os.DirFS("../testdata/charts/carts")); err != nil {
					t.Fatal(err)
				}
				c.chart(t, dir)
			}
			_, data := inst.finished(t, inst.trigger(t, inst.nats, deploymentTrigger(project, "dev", "carts", "direct", nil)), deployTimeout)
			expectSucceeded(t, data)
			if c.leave != nil {
				c.leave(t, ns)
			}

			_, out := inst.serviceDeleted(t, project, "carts")
			t.Logf("answer: %s", out.Message)
			if out.Status != events.StatusSucceeded || out.Removed == nil || !slices.Equal(out.Removed.Releases, []string{ns + "/carts"}) {
				t.Fatalf("finished %s %q, removed %+v; want release %s/carts removed", out.Status, out.Message, out.Removed, ns)
			}
			if len(out.Removed.Namespaces) != 0 {
				t.Errorf("removed namespaces %v, want none", out.Removed.Namespaces)
			}
			if len(out.Removed.KeptNamespaces) != 1 || out.Removed.KeptNamespaces[0].Namespace != ns {
				t.Fatalf("kept namespaces %+v, want %s with a reason", out.Removed.KeptNamespaces, ns)
			}
			for _, want := range c.reason {
				if reason := out.Removed.KeptNamespaces[0].Reason; !strings.Contains(reason, want) {
					t.Errorf("reason %q does not name %q", reason, want)
				}
				if !strings.Contains(out.Message, want) {
					t.Errorf("message %q does not name %q", out.Message, want)
				}
			}
			namespaceStays(t, ns)
			if err := c.stays(t, ns); err != nil {
				t.Errorf("the object the namespace was kept for: %v, want it still there", err)
			}
		})
	}
}

// TestDeleteServiceRemovesVariableGroups: removing a service deletes its
// variable group in every namespace it was deployed to and lists it in the
// answer; the global group and other services' groups stay while their
// namespace does, and do not keep an otherwise empty namespace.
func TestDeleteServiceRemovesVariableGroups(t *testing.T) {
	inst := startInstance(t, map[string]string{"DELETE_EMPTY_NAMESPACES": "true", "NATS_QUEUE_GROUP": "helm-service-vars"})
	project := suite.project("delvars")
	dev, prod := project+"-dev", project+"-prod"
	if err := os.CopyFS(filepath.Join(suite.chartDir, project, "orders"), os.DirFS("../testdata/charts/carts")); err != nil {
		t.Fatal(err)
	}
	for _, d := range []struct{ stage, service string }{{"dev", "carts"}, {"prod", "carts"}, {"prod", "orders"}} {
		trigger := variablesTrigger(project, d.stage, d.service, "direct", nil, map[string]any{"DB_PASSWORD": "s3cret-" + d.service}, map[string]any{"REGION": "eu"})
		_, data := inst.finished(t, inst.trigger(t, inst.nats, trigger), deployTimeout)
		expectSucceeded(t, data)
	}
	secretData(t, dev, vargroups.ServiceSecret("carts"))
	secretData(t, prod, vargroups.ServiceSecret("carts"))

	_, out := inst.serviceDeleted(t, project, "carts")
	t.Logf("answer: %s", out.Message)
	if out.Status != events.StatusSucceeded || out.Removed == nil {
		t.Fatalf("finished %s %q", out.Status, out.Message)
	}
	wantGroups := []string{dev + "/" + vargroups.ServiceSecret("carts"), prod + "/" + vargroups.ServiceSecret("carts")}
	if !slices.Equal(out.Removed.VariableGroups, wantGroups) {
		t.Errorf("removed variable groups %v, want %v", out.Removed.VariableGroups, wantGroups)
	}
	for _, g := range wantGroups {
		if !strings.Contains(out.Message, g) {
			t.Errorf("message %q does not name %s", out.Message, g)
		}
	}
	if _, err := suite.clientset.CoreV1().Secrets(prod).Get(ctx(t), vargroups.ServiceSecret("carts"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("variable group of carts in %s: %v, want it deleted", prod, err)
	}
	// prod still holds orders: its group and the namespace's global group stay.
	secretData(t, prod, vargroups.GlobalSecret)
	secretData(t, prod, vargroups.ServiceSecret("orders"))
	namespaceStays(t, prod)
	if len(out.Removed.KeptNamespaces) != 1 || out.Removed.KeptNamespaces[0].Namespace != prod || !strings.Contains(out.Removed.KeptNamespaces[0].Reason, "orders") {
		t.Errorf("kept namespaces %+v, want %s kept for the release of orders", out.Removed.KeptNamespaces, prod)
	}
	// dev held only carts and the global group: it is deleted, group and all.
	if !slices.Equal(out.Removed.Namespaces, []string{dev}) {
		t.Errorf("removed namespaces %v, want %s", out.Removed.Namespaces, dev)
	}
	if ns, err := suite.clientset.CoreV1().Namespaces().Get(ctx(t), dev, metav1.GetOptions{}); err == nil && ns.DeletionTimestamp == nil {
		t.Errorf("namespace %s is still there and not being deleted", dev)
	}
}

// TestDeleteAnswersAreNotTakenForNewDeletes: two helm-service instances with
// different EVENT_SOURCEs share one bus. One service.delete.finished from
// the control plane gets one answer from each, and no more: neither takes
// the other's answer for a new removal. A removal from a source
// DELETE_EVENT_SOURCES does not list is not answered at all.
func TestDeleteAnswersAreNotTakenForNewDeletes(t *testing.T) {
	ns, err := eventbus.StartEmbedded(eventbus.EmbeddedOptions{Listen: "127.0.0.1:0", DataDir: filepath.Join(t.TempDir(), "nats")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	a := startInstanceOn(t, ns.ClientURL(), map[string]string{"EVENT_SOURCE": "helm-service-a", "NATS_QUEUE_GROUP": "helm-service-a"})
	startInstanceOn(t, ns.ClientURL(), map[string]string{"EVENT_SOURCE": "helm-service-b", "NATS_QUEUE_GROUP": "helm-service-b"})
	project := suite.project("pingpong")
	typ := events.Type(events.TaskServiceDelete, events.PhaseFinished)

	var mu sync.Mutex
	var answers []string
	sub, err := a.nats.Subscribe(typ, func(m *nats.Msg) {
		var e cloudevents.Event
		if json.Unmarshal(m.Data, &e) == nil && e.Source() != "e2e-test" && e.Source() != "somebody-else" {
			mu.Lock()
			answers = append(answers, e.Source())
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := a.nats.Flush(); err != nil {
		t.Fatal(err)
	}

	a.publish(t, typ, map[string]any{"project": project, "service": "carts", "status": "succeeded", "result": "pass"})
	ignored := newEvent(t, typ, map[string]any{"project": project, "service": "carts", "status": "succeeded", "result": "pass"})
	ignored.SetSource("somebody-else")
	send(t, a.nats, ignored)
	time.Sleep(5 * time.Second)
	mu.Lock()
	got := slices.Clone(answers)
	mu.Unlock()
	slices.Sort(got)
	if !slices.Equal(got, []string{"helm-service-a", "helm-service-b"}) {
		t.Errorf("answers to one removal: %v, want one from each instance and nothing more", got)
	}
}
