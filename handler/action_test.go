package handler

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/routing"
)

var scalingSettings = ActionSettings{MaxReplicas: 10, WaitTimeout: time.Minute, RouteMode: RouteModeCanary}

// directScaled is the cluster with release carts at revision 1 and its
// Deployment at replicas, kept (recorded by a scaling) when kept is set.
func directScaled(replicas int32, kept string) clusterState {
	s := directState(1, "carts:1")
	s.Workloads[ns+"/carts"] = workloadState{Replicas: replicas, Kept: kept}
	return s
}

// blueGreenScaled is the cluster as blueGreenDeployed leaves it with the
// Deployments of the primary and the canary at these replicas, and the
// stable Service routed to routedTo.
func blueGreenScaled(primary, canary workloadState, routedTo string) clusterState {
	s := blueGreenState()
	primary.Side, canary.Side = "primary", "canary"
	s.Workloads = map[string]workloadState{ns + "/carts-primary": primary, ns + "/carts-canary": canary}
	s.RoutedTo = routedTo
	return s
}

// TestScaling drives the scaling action on the real Helm SDK and a fake
// cluster through the strategies, the route modes, MAX_REPLICAS and its
// failures, and compares the answer and the cluster afterwards.
func TestScaling(t *testing.T) {
	// noRouteMode are the settings without a route mode: the canary is
	// never scaled.
	noRouteMode := ActionSettings{MaxReplicas: 10, WaitTimeout: time.Minute}
	dark := scalingSettings
	dark.RouteMode = RouteModeDark
	shortWait := scalingSettings
	shortWait.WaitTimeout = 300 * time.Millisecond
	direct := func(replicas int32) func(*testCluster) {
		return func(c *testCluster) {
			c.deploy(directCarts1)
			c.setReplicas(ns, "carts", replicas, false)
		}
	}
	blueGreen := func(primary, canary int32, routedTo routing.Split) func(*testCluster) {
		return func(c *testCluster) {
			blueGreenDeployed(c)
			if err := c.router().Route(context.Background(), stableTarget(80), routedTo); err != nil {
				t.Fatal(err)
			}
			c.setReplicas(ns, "carts-primary", primary, false)
			c.setReplicas(ns, "carts-canary", canary, false)
		}
	}
	scaled := func(release string, increment int32, workloads ...events.WorkloadScaling) *events.Scaling {
		return &events.Scaling{Namespace: ns, ReleaseName: release, Increment: increment, Workloads: workloads}
	}
	deployment := func(name string, from, to int32) events.WorkloadScaling {
		return events.WorkloadScaling{Kind: "Deployment", Name: name, From: from, To: to}
	}
	primaryAlone := []string{"deployment sockshop-staging/carts-primary from 2 to 3"}
	cases := []struct {
		name     string
		value    any
		settings *ActionSettings
		setup    func(*testCluster)
		// wantState is the cluster afterwards; nil: as before.
		wantState    *clusterState
		wantStatus   string
		wantScaling  *events.Scaling
		wantMessages []string
	}{
		{name: "direct", value: "+2", settings: &noRouteMode, setup: direct(1),
			wantState: ptrTo(directScaled(3, "3")), wantStatus: "succeeded", wantScaling: scaled("carts", 2, deployment("carts", 1, 3)),
			wantMessages: []string{"deployment sockshop-staging/carts from 1 to 3"}},
		{name: "blue/green scales the primary", value: -1, settings: &noRouteMode, setup: blueGreen(2, 2, routing.AllCanary),
			wantState:  ptrTo(blueGreenScaled(workloadState{Replicas: 1, Kept: "1"}, workloadState{Replicas: 2}, "canary")),
			wantStatus: "succeeded", wantScaling: scaled("carts-primary", -1, deployment("carts-primary", 2, 1)),
			wantMessages: []string{"deployment sockshop-staging/carts-primary from 2 to 1"}},
		{name: "refused at MAX_REPLICAS", value: "+1", setup: direct(10),
			wantStatus:   "errored",
			wantMessages: []string{"it runs 10 replicas, MAX_REPLICAS is 10, and scaling by +1 asks for 11", "deployment sockshop-staging/carts"}},
		{name: "refused above MAX_REPLICAS", value: "+1", setup: direct(12),
			wantStatus:   "errored",
			wantMessages: []string{"it runs 12 replicas, MAX_REPLICAS is 10, and scaling by +1 asks for 13", "deployment sockshop-staging/carts"}},
		{name: "capped at MAX_REPLICAS", value: 5, setup: direct(8),
			wantState: ptrTo(directScaled(10, "10")), wantStatus: "succeeded", wantScaling: scaled("carts", 5, deployment("carts", 8, 10)),
			wantMessages: []string{"from 8 to 10 (capped at MAX_REPLICAS 10; +5 asked for 13)"}},
		{name: "a live canary scales both sides", value: 1, setup: blueGreen(3, 2, routing.AllCanary),
			wantState:  ptrTo(blueGreenScaled(workloadState{Replicas: 4, Kept: "4"}, workloadState{Replicas: 3, Kept: "3"}, "canary")),
			wantStatus: "succeeded", wantScaling: scaled("carts-canary", 1, deployment("carts-canary", 2, 3), deployment("carts-primary", 3, 4)),
			wantMessages: []string{"canary sockshop-staging/carts-canary receives traffic", "deployment sockshop-staging/carts-canary from 2 to 3", "deployment sockshop-staging/carts-primary from 3 to 4"}},
		{name: "canary without traffic: traffic on the primary", value: 1, setup: blueGreen(2, 2, routing.AllPrimary),
			wantState:  ptrTo(blueGreenScaled(workloadState{Replicas: 3, Kept: "3"}, workloadState{Replicas: 2}, "primary")),
			wantStatus: "succeeded", wantScaling: scaled("carts-primary", 1, deployment("carts-primary", 2, 3)), wantMessages: primaryAlone},
		{name: "canary without traffic: canary scaled to zero", value: 1, setup: blueGreen(2, 0, routing.AllCanary),
			wantState:  ptrTo(blueGreenScaled(workloadState{Replicas: 3, Kept: "3"}, workloadState{Replicas: 0}, "canary")),
			wantStatus: "succeeded", wantScaling: scaled("carts-primary", 1, deployment("carts-primary", 2, 3)), wantMessages: primaryAlone},
		{name: "canary without traffic: dark mode", value: 1, settings: &dark, setup: blueGreen(2, 2, routing.AllCanary),
			wantState:  ptrTo(blueGreenScaled(workloadState{Replicas: 3, Kept: "3"}, workloadState{Replicas: 2}, "canary")),
			wantStatus: "succeeded", wantScaling: scaled("carts-primary", 1, deployment("carts-primary", 2, 3)), wantMessages: primaryAlone},
		{name: "only in the release's namespace", value: 1, setup: func(c *testCluster) { c.deploy(renderedFrom(directCarts1, withForeignWorkload(t))) },
			// coredns, which the chart renders into kube-system, keeps its
			// replicas.
			wantState: ptrTo(change(directScaled(3, "3"), func(s *clusterState) {
				s.Workloads["kube-system/coredns"] = workloadState{Replicas: 2}
			})),
			wantStatus: "succeeded", wantScaling: scaled("carts", 1, deployment("carts", 2, 3)),
			wantMessages: []string{"deployment sockshop-staging/carts from 2 to 3", "not scaled: deployment kube-system/coredns"}},
		{name: "not a number", value: "abc", setup: direct(2),
			wantStatus: "errored", wantMessages: []string{`action.value "abc" is not a replica increment`}},
		{name: "fraction", value: 1.5, setup: direct(2),
			wantStatus: "errored", wantMessages: []string{"action.value 1.5 is not a replica increment"}},
		{name: "missing", value: nil, setup: direct(2),
			wantStatus: "errored", wantMessages: []string{"action.value is missing"}},
		{name: "never deployed", value: 1,
			wantStatus: "errored", wantMessages: []string{"was never deployed by helm-service"}},
		{name: "autoscaled", value: 1, setup: func(c *testCluster) {
			direct(2)(c)
			c.autoscale(ns, "carts-hpa", "carts")
		}, wantStatus: "errored", wantMessages: []string{"managed by HorizontalPodAutoscaler sockshop-staging/carts-hpa"}},
		{name: "scale fails", value: 1, setup: func(c *testCluster) {
			direct(2)(c)
			c.clientset.PrependReactor("update", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
				if a.GetSubresource() == "scale" {
					return true, nil, errors.New("forbidden")
				}
				return false, nil, nil
			})
		}, wantStatus: "errored", wantMessages: []string{"scale release sockshop-staging/carts by +1: scale deployment sockshop-staging/carts to 3: forbidden"}},
		{name: "not ready within the wait timeout", value: 1, settings: &shortWait, setup: func(c *testCluster) {
			direct(2)(c)
			c.neverReady(ns, "carts")
		}, wantState: ptrTo(directScaled(3, "3")),
			wantStatus: "errored", wantMessages: []string{"(done: deployment sockshop-staging/carts from 2 to 3): waiting for replicas: context deadline exceeded"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newTaskFixture(t, taskOptions{action: c.settings})
			if c.setup != nil {
				c.setup(f.cluster)
			}
			before := f.cluster.state()
			done := make(chan struct{})
			go func() {
				defer close(done)
				f.deliver(scalingEvent(t, c.value))
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the scaling did not end: its wait is not bounded by the wait timeout")
			}
			out := actionAnswer(t, f.published)
			wantResult := events.ResultPass
			if c.wantStatus != events.StatusSucceeded {
				wantResult = events.ResultFail
			}
			if out.Status != c.wantStatus || out.Result != wantResult {
				t.Errorf("finished %s/%s %q, want %s/%s", out.Status, out.Result, out.Message, c.wantStatus, wantResult)
			}
			for _, want := range c.wantMessages {
				if !strings.Contains(out.Message, want) {
					t.Errorf("message %q does not say %q", out.Message, want)
				}
			}
			if diff := cmp.Diff(c.wantScaling, out.Scaling); diff != "" {
				t.Errorf("scaling (-want +got):\n%s", diff)
			}
			want := before
			if c.wantState != nil {
				want = *c.wantState
			}
			if diff := cmp.Diff(want, f.cluster.state()); diff != "" {
				t.Errorf("cluster afterwards (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDeploymentDropsAKeptCountAnAutoscalerOwns: a count kept from a
// scaling is not applied to a workload an HPA now targets; once the
// deployment is ready its record is removed and the answer says so. A
// deployment that fails keeps the record.
func TestDeploymentDropsAKeptCountAnAutoscalerOwns(t *testing.T) {
	for _, c := range []struct {
		name       string
		fails      bool
		wantStatus string
		wantState  clusterState
		wantMsg    string
	}{
		{name: "ready deployment", wantStatus: "succeeded", wantState: directScaled(2, ""), // the chart's replicas
			wantMsg: "dropped the replica count kept from a scaling on deployment sockshop-staging/carts (5): HorizontalPodAutoscaler sockshop-staging/carts-hpa now targets it"},
		{name: "failing deployment", fails: true, wantStatus: "errored", wantState: directScaled(2, "5"), wantMsg: "pods not ready"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newTaskFixture(t, taskOptions{})
			f.cluster.deploy(directCarts1)
			f.cluster.setReplicas(ns, "carts", 5, true)
			f.cluster.autoscale(ns, "carts-hpa", "carts")
			if c.fails {
				f.cluster.kube.WaitError = errors.New("pods not ready")
			}
			f.deliver(triggerEvent(t, validTrigger()))
			_, data := f.published.finished(t)
			if data.Status != c.wantStatus || !strings.Contains(data.Message, c.wantMsg) {
				t.Errorf("finished %s %q, want %s saying %q", data.Status, data.Message, c.wantStatus, c.wantMsg)
			}
			status := "deployed"
			if c.fails {
				status = "failed"
			}
			want := c.wantState
			want.Releases = map[string]releaseState{"carts": {Revision: 2, Status: status, Image: "carts:2", Side: "direct"}}
			if diff := cmp.Diff(want, f.cluster.state()); diff != "" {
				t.Errorf("cluster afterwards (-want +got):\n%s", diff)
			}
		})
	}
}
