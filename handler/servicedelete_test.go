package handler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"helm.sh/helm/v3/pkg/release"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"

	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
	"github.com/helm-service/helm-service/pkg/vargroups"
)

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
	// withGroup deploys carts directly into namespace, with a variable in
	// its variable group.
	withGroup := func(namespace string) func(*testCluster) {
		return func(c *testCluster) {
			c.namespace(namespace, true)
			c.deploy(revision{name: "carts", strategy: "direct", image: "carts:1", namespace: namespace})
			on := "on"
			if _, _, err := (vargroups.Store{Clientset: c.clientset}).Apply(context.Background(), namespace, "carts", nil, vargroups.Changes{"FEATURE": &on}); err != nil {
				t.Fatal(err)
			}
		}
	}
	allowed := ServiceDeleteSettings{
		WaitTimeout: time.Minute, EventSources: []string{"shipyard-controller"},
		AllowNamespace: func(ns string) error {
			if ns == "sockshop-dev" {
				return fmt.Errorf("namespace %s is not allowed by ALLOWED_NAMESPACES", ns)
			}
			return nil
		},
	}
	cases := []struct {
		name string
		// removal are the task's settings; deleteSettings when nil.
		removal *ServiceDeleteSettings
		// variables gives the task the variable groups.
		variables bool
		setup     func(*testCluster)
		// wantUninstalled are the releases uninstalled, in order.
		wantUninstalled []string
		wantState       removalState
		wantStatus      string
		wantRemoved     *events.Removed
		wantMessages    []string
		// wantAbsent must not be in the message.
		wantAbsent []string
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
		{name: "removes the variable groups and says why namespaces stay", variables: true,
			setup: func(c *testCluster) {
				withGroup("sockshop-dev")(c)
				c.namespace(ns, true)
				c.deploy(directCarts1) // without a variable group
				claim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "data"}}
				if _, err := c.clientset.CoreV1().PersistentVolumeClaims(ns).Create(context.Background(), claim, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			},
			wantUninstalled: []string{"sockshop-dev/carts", ns + "/carts"},
			wantState:       removalState{Namespaces: []string{ns}},
			wantStatus:      "succeeded",
			wantRemoved: &events.Removed{Releases: []string{"sockshop-dev/carts", ns + "/carts"}, RoutingObjects: []string{},
				VariableGroups: []string{"sockshop-dev/helm-service-vars-carts"}, Namespaces: []string{"sockshop-dev"},
				KeptNamespaces: []events.KeptNamespace{{Namespace: ns, Reason: "holds PersistentVolumeClaim data"}}},
			wantMessages: []string{"variable groups sockshop-dev/helm-service-vars-carts", "kept namespaces " + ns + " (holds PersistentVolumeClaim data)"}},
		{name: "leaves the releases when the variable group stays", variables: true,
			setup: func(c *testCluster) {
				withGroup(ns)(c)
				c.clientset.PrependReactor("delete", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, errors.New("forbidden")
				})
			},
			// No uninstall, no routing removal, no namespace deleted.
			wantState:  removalState{Records: []string{ns + "/carts"}, Namespaces: []string{ns}, Deployments: []string{ns + "/carts"}, Services: []string{ns + "/carts"}},
			wantStatus: "errored", wantMessages: []string{"delete variable group sockshop-staging/helm-service-vars-carts: forbidden", "send the removal again"}},
		{name: "stays in the allowed namespaces", removal: &allowed,
			setup: func(c *testCluster) {
				c.namespace("sockshop-dev", true)
				c.namespace(ns, true)
				c.deploy(directCarts1, revision{name: "carts", strategy: "direct", image: "carts:1", namespace: "sockshop-dev"})
			},
			wantUninstalled: []string{ns + "/carts"},
			wantState: removalState{Records: []string{"sockshop-dev/carts"}, Namespaces: []string{"sockshop-dev", ns},
				Deployments: []string{"sockshop-dev/carts"}, Services: []string{"sockshop-dev/carts"}},
			wantStatus: "succeeded",
			wantRemoved: &events.Removed{Releases: []string{ns + "/carts"}, RoutingObjects: []string{}, VariableGroups: []string{},
				NotAllowed: []string{"sockshop-dev/carts"}},
			wantMessages: []string{"sockshop-dev/carts", "ALLOWED_NAMESPACES"}},
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
		{name: "failed uninstall of the only release",
			setup: func(c *testCluster) {
				c.namespace(ns, true)
				c.deploy(revision{name: "carts", strategy: "direct", image: "carts:1", namespace: ns})
				c.refuse(ns, "carts", forbidden)
			},
			wantState:    removalState{Records: []string{ns + "/carts"}, Namespaces: []string{ns}, Deployments: []string{ns + "/carts"}, Services: []string{ns + "/carts"}},
			wantStatus:   "errored",
			wantMessages: []string{"nothing of service carts of project sockshop was removed", "uninstall release sockshop-staging/carts: ", "secrets is forbidden: no access"},
			wantAbsent:   []string{"nothing deployed"}},
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
			f := newTaskFixture(t, taskOptions{removal: c.removal, variables: c.variables})
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
			for _, absent := range c.wantAbsent {
				if strings.Contains(out.Message, absent) {
					t.Errorf("message %q contains %q", out.Message, absent)
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

// TestServiceDeleteBadInputAndOtherSources: a malformed removal is
// answered errored, and one from a source not listed is not answered;
// neither changes anything.
func TestServiceDeleteBadInputAndOtherSources(t *testing.T) {
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
	// Only the control plane's service.delete.finished
	// (DELETE_EVENT_SOURCES) removes a service: our own answer, another
	// helm-service's, or anybody else's event of that type, is ignored,
	// unanswered, so two instances never answer each other forever.
	for _, source := range []string{"helm-service", "helm-service-eu"} {
		f := newTaskFixture(t, taskOptions{})
		f.cluster.deploy(directCarts1)
		before := f.cluster.removalState()
		e := deleteEvent(t)
		e.SetSource(source)
		f.deliver(e)
		if n := len(f.published.events); n != 0 {
			t.Errorf("service.delete.finished of %s answered with %d events", source, n)
		}
		if diff := cmp.Diff(before, f.cluster.removalState()); diff != "" {
			t.Errorf("%s: cluster afterwards (-want +got):\n%s", source, diff)
		}
	}
}
