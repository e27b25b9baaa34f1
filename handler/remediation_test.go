package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"helm.sh/helm/v3/pkg/release"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
)

// eventOf builds an event of any type from the control plane.
func eventOf(t *testing.T, eventType string, data any) *cloudevents.Event {
	t.Helper()
	e := triggerEvent(t, data)
	e.SetType(eventType)
	return e
}

func scalingEvent(t *testing.T, value any) *cloudevents.Event {
	action := map[string]any{"name": "scale up", "action": "scaling"}
	if value != nil {
		action["value"] = value
	}
	return eventOf(t, "sh.keptn.event.action.triggered", map[string]any{
		"project": "sockshop", "stage": "staging", "service": "carts", "action": action,
	})
}

// actionAnswer returns the .finished of an action after checking that
// .started came first.
func actionAnswer(t *testing.T, r *recorder) events.ActionFinished {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.events) != 2 || r.events[0].Type() != "sh.keptn.event.action.started" || r.events[1].Type() != "sh.keptn.event.action.finished" {
		t.Fatalf("published %d events, want action .started and .finished", len(r.events))
	}
	var data events.ActionFinished
	if err := json.Unmarshal(r.events[1].Data(), &data); err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseIncrement(t *testing.T) {
	good := map[string]int32{`1`: 1, `"1"`: 1, `"+2"`: 2, `"-1"`: -1, `-3`: -3, `0`: 0, `" 4 "`: 4}
	for raw, want := range good {
		got, err := parseIncrement(json.RawMessage(raw))
		if err != nil || got != want {
			t.Errorf("parseIncrement(%s) = %d, %v; want %d", raw, got, err, want)
		}
	}
	bad := map[string]string{
		``: "action.value is missing", `null`: "action.value is missing",
		`"abc"`: `action.value "abc" is not a replica increment`, `1.5`: "action.value 1.5 is not",
		`"1.5"`: `action.value "1.5" is not`, `true`: "action.value true is not", `{"n":1}`: `action.value {"n":1} is not`,
		`[1]`: "action.value [1] is not", `""`: `action.value "" is not`, `99999999999`: "action.value 99999999999 is out of range",
	}
	for raw, want := range bad {
		if _, err := parseIncrement(json.RawMessage(raw)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseIncrement(%s) error = %v, want %q", raw, err, want)
		}
	}
}

func TestOtherActionsAreNotAnswered(t *testing.T) {
	for _, data := range []any{
		map[string]any{"project": "sockshop", "stage": "staging", "service": "carts", "action": map[string]any{"action": "toggle-feature", "value": "on"}},
		map[string]any{"project": "sockshop", "stage": "staging", "service": "carts"},
		`{"action": "scaling"}`,
	} {
		f := newTaskFixture(t, taskOptions{})
		f.cluster.deploy(directCarts1)
		before := f.cluster.state()
		f.deliver(eventOf(t, "sh.keptn.event.action.triggered", data))
		if n := len(f.published.events); n != 0 {
			t.Errorf("%v: published %d events, want none", data, n)
		}
		if diff := cmp.Diff(before, f.cluster.state()); diff != "" {
			t.Errorf("%v: cluster afterwards (-want +got):\n%s", data, diff)
		}
	}
}

// deleteAnswer returns the one event published for a service removal.
func deleteAnswer(t *testing.T, r *recorder) (cloudevents.Event, events.ServiceDeleteFinished) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.events) != 1 || r.events[0].Type() != "sh.keptn.event.service.delete.finished" {
		t.Fatalf("published %d events, want one service.delete.finished", len(r.events))
	}
	var data events.ServiceDeleteFinished
	if err := json.Unmarshal(r.events[0].Data(), &data); err != nil {
		t.Fatal(err)
	}
	return r.events[0], data
}

func deleteEvent(t *testing.T) *cloudevents.Event {
	return eventOf(t, "sh.keptn.event.service.delete.finished", map[string]any{"project": "sockshop", "service": "carts", "status": "succeeded"})
}

// removalState is what a service's removal leaves in the cluster.
type removalState struct {
	// Records are the namespace/name of every release record.
	Records []string
	// Namespaces, Deployments and Services are the namespace/name of the
	// objects.
	Namespaces, Deployments, Services []string
}

func (c *testCluster) removalState() removalState {
	c.t.Helper()
	ctx := context.Background()
	var out removalState
	c.recordMu.Lock()
	c.records.SetNamespace(helm.AllNamespaces)
	all, err := c.records.List(func(*release.Release) bool { return true })
	c.recordMu.Unlock()
	if err != nil {
		c.t.Fatal(err)
	}
	for _, r := range all {
		if key := r.Namespace + "/" + r.Name; !slices.Contains(out.Records, key) {
			out.Records = append(out.Records, key)
		}
	}
	namespaces, err := c.clientset.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	for _, n := range namespaces.Items {
		out.Namespaces = append(out.Namespaces, n.Name)
	}
	deployments, err := c.clientset.AppsV1().Deployments(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	for _, d := range deployments.Items {
		out.Deployments = append(out.Deployments, d.Namespace+"/"+d.Name)
	}
	services, err := c.clientset.CoreV1().Services(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	for _, s := range services.Items {
		out.Services = append(out.Services, s.Namespace+"/"+s.Name)
	}
	for _, l := range [][]string{out.Records, out.Namespaces, out.Deployments, out.Services} {
		slices.Sort(l)
	}
	return out
}

// namespace creates namespace name, as helm-service creates it when
// managed is set.
func (c *testCluster) namespace(name string, managed bool) {
	c.t.Helper()
	ctx := context.Background()
	if managed {
		if err := (kube.Namespaces{Clientset: c.clientset}).Ensure(ctx, name, nil); err != nil {
			c.t.Fatal(err)
		}
		return
	}
	if _, err := c.clientset.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		c.t.Fatal(err)
	}
}

// TestServiceDelete removes a service from every stage on the real Helm
// SDK and a fake cluster: its releases, its routing and the namespaces it
// leaves empty; it searches the project's namespaces one by one when it
// may not list release records cluster-wide, and reports a failed
// uninstall.
func TestServiceDelete(t *testing.T) {
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "", errors.New("no access"))
	notOurs := fmt.Sprintf("not created by helm-service (no label %s=%s)", kube.LabelManagedBy, kube.ManagedByValue)
	cases := []struct {
		name  string
		setup func(*testCluster)
		// wantUninstalled are the releases uninstalled, in order.
		wantUninstalled []string
		wantState       removalState
		wantStatus      string
		wantRemoved     *events.Removed
		wantMessages    []string
	}{
		{name: "removes every stage",
			setup: func(c *testCluster) {
				c.namespace("sockshop-dev", true)
				c.namespace(ns, false)
				c.deploy(revision{name: "carts", strategy: "direct", image: "carts:1", namespace: "sockshop-dev"})
				blueGreenDeployed(c)
			},
			wantUninstalled: []string{"sockshop-dev/carts", ns + "/carts-canary", ns + "/carts-primary"},
			wantState:       removalState{Namespaces: []string{ns}},
			wantStatus:      "succeeded",
			wantRemoved: &events.Removed{
				Releases: []string{"sockshop-dev/carts", ns + "/carts-canary", ns + "/carts-primary"}, RoutingObjects: []string{"Service " + ns + "/carts"},
				VariableGroups: []string{}, Namespaces: []string{"sockshop-dev"}, KeptNamespaces: []events.KeptNamespace{{Namespace: ns, Reason: notOurs}},
			},
			wantMessages: []string{"sockshop-dev/carts", ns + "/carts-canary", ns + "/carts-primary", "Service " + ns + "/carts", "empty namespaces sockshop-dev"}},
		{name: "nothing deployed", setup: func(c *testCluster) { c.namespace(ns, true) },
			wantState: removalState{Namespaces: []string{ns}}, wantStatus: "succeeded",
			wantRemoved:  &events.Removed{Releases: []string{}, RoutingObjects: []string{}, VariableGroups: []string{}},
			wantMessages: []string{"nothing deployed"}},
		{name: "failed uninstall",
			setup: func(c *testCluster) {
				c.namespace(ns, true)
				blueGreenDeployed(c)
				c.refuse(ns, "carts-primary", forbidden)
			},
			// A namespace where an uninstall failed is left alone.
			wantUninstalled: []string{ns + "/carts-canary"},
			wantState:       removalState{Records: []string{ns + "/carts-primary"}, Namespaces: []string{ns}, Deployments: []string{ns + "/carts-primary"}, Services: []string{ns + "/carts-primary"}},
			wantStatus:      "errored",
			wantMessages:    []string{"uninstall release sockshop-staging/carts-primary: ", "secrets is forbidden: no access", "releases sockshop-staging/carts-canary"}},
		{name: "searches the namespaces when listing all is forbidden",
			setup: func(c *testCluster) {
				for _, n := range []string{"kube-system", "sockshop-secret", ns, "shop-staging"} {
					c.namespace(n, true)
				}
				c.deploy(directCarts1, revision{name: "carts", strategy: "direct", image: "carts:1", namespace: "sockshop-secret"})
				c.refuse(helm.AllNamespaces, "", forbidden)
				c.refuse("sockshop-secret", "", forbidden)
			},
			wantUninstalled: []string{ns + "/carts"},
			// What it may not read it leaves alone.
			wantState: removalState{Records: []string{"sockshop-secret/carts"}, Namespaces: []string{"kube-system", "shop-staging", "sockshop-secret"},
				Deployments: []string{"sockshop-secret/carts"}, Services: []string{"sockshop-secret/carts"}},
			wantStatus:   "succeeded",
			wantRemoved:  &events.Removed{Releases: []string{ns + "/carts"}, RoutingObjects: []string{}, VariableGroups: []string{}, Namespaces: []string{ns}},
			wantMessages: []string{ns + "/carts"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newTaskFixture(t, taskOptions{})
			c.setup(f.cluster)
			uninstalled := len(f.cluster.uninstalled)
			f.deliver(deleteEvent(t))
			ev, out := deleteAnswer(t, f.published)
			if ev.Source() != "helm-service" || events.StringExtension(ev, events.ExtTriggeredID) != "trigger-id" {
				t.Errorf("answer source %s, triggeredid %v", ev.Source(), ev.Extensions())
			}
			wantResult := events.ResultPass
			if c.wantStatus != events.StatusSucceeded {
				wantResult = events.ResultFail
			}
			if out.Status != c.wantStatus || out.Result != wantResult || out.Project != "sockshop" || out.Service != "carts" || out.Stage != "" {
				t.Errorf("finished %+v, want %s/%s", out.Common, c.wantStatus, wantResult)
			}
			for _, want := range c.wantMessages {
				if !strings.Contains(out.Message, want) {
					t.Errorf("message %q does not contain %q", out.Message, want)
				}
			}
			if diff := cmp.Diff(c.wantRemoved, out.Removed); diff != "" {
				t.Errorf("removed (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(c.wantUninstalled, f.cluster.uninstalled[uninstalled:], cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("uninstalled (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(c.wantState, f.cluster.removalState(), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("cluster afterwards (-want +got):\n%s", diff)
			}
		})
	}
}

func TestServiceDeleteBadInputAndOwnEvents(t *testing.T) {
	for data, want := range map[string]string{
		`{"service": "carts"}`:                         "project is missing",
		`{"project": "sockshop", "service": "Carts!"}`: `service "Carts!" is not a valid Kubernetes name`,
		`{"project": 1}`:                               "field project",
	} {
		f := newTaskFixture(t, taskOptions{})
		f.cluster.deploy(directCarts1)
		before := f.cluster.removalState()
		f.deliver(eventOf(t, "sh.keptn.event.service.delete.finished", data))
		_, out := deleteAnswer(t, f.published)
		if out.Status != events.StatusErrored || !strings.Contains(out.Message, want) {
			t.Errorf("%s: finished %s %q, want errored with %q", data, out.Status, out.Message, want)
		}
		if diff := cmp.Diff(before, f.cluster.removalState()); diff != "" {
			t.Errorf("%s: cluster afterwards (-want +got):\n%s", data, diff)
		}
	}
	f := newTaskFixture(t, taskOptions{})
	f.cluster.deploy(directCarts1)
	before := f.cluster.removalState()
	own := deleteEvent(t)
	own.SetSource("helm-service")
	f.deliver(own)
	if n := len(f.published.events); n != 0 {
		t.Errorf("own service.delete.finished answered with %d events", n)
	}
	if diff := cmp.Diff(before, f.cluster.removalState()); diff != "" {
		t.Errorf("cluster afterwards (-want +got):\n%s", diff)
	}
}
