package handler

import (
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"

	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/kube"
)

// revertEvent is a release or rollback trigger; without keptnContext it
// carries no shkeptncontext.
func revertEvent(t *testing.T, task, result, keptnContext string) *cloudevents.Event {
	e := triggerEvent(t, lifecycleEvent(t, task, result))
	e.SetType(events.Type(task, events.PhaseTriggered))
	if keptnContext == "" {
		e.SetExtension(events.ExtContext, nil)
	} else {
		e.SetExtension(events.ExtContext, keptnContext)
	}
	return e
}

// TestRevert covers which revision a failed release or a rollback reverts,
// on the real Helm SDK and a fake cluster: a revision a newer sequence
// made is left alone (the newer canary keeps its traffic and its
// replicas); a trigger without shkeptncontext is refused when the revision
// names its sequence and reverts as before when it names none; the answer
// names the revision gone back to and what was recovered first; and only
// workloads in the release's namespace are scaled.
func TestRevert(t *testing.T) {
	newerCanary := func(c *testCluster) {
		c.deploy(primaryCarts1, canaryCarts1, withSequence(canaryCarts2, "newer-sequence"))
		c.routeToCanary()
	}
	newerMessage := []string{"nothing to roll back", "canary revision 2 of release sockshop-staging/carts-canary was made by sequence newer-sequence", "older-sequence"}
	newerOutcome := &events.Outcome{Action: "none", Strategy: "blue_green_service", Namespace: ns, ReleaseName: "carts-canary", HelmRevision: 2}
	refused := []string{"shkeptncontext is missing", "made by sequence keptn-context"}
	foreignCanary := func(c *testCluster) {
		ch := withForeignWorkload(t)
		c.deploy(primaryCarts1, renderedFrom(canaryCarts1, ch), renderedFrom(canaryCarts2, ch))
		c.routeToCanary()
	}
	cases := []struct {
		name, task, result string
		// keptnContext is the trigger's; none when empty.
		keptnContext string
		setup        func(*testCluster)
		// wantState is the cluster afterwards; nil: as before.
		wantState    *clusterState
		wantStatus   string
		wantOutcome  *events.Outcome
		wantMessages []string
	}{
		{name: "rollback leaves a newer sequence's canary", task: "rollback", keptnContext: "older-sequence", setup: newerCanary,
			wantStatus: "succeeded", wantOutcome: newerOutcome, wantMessages: newerMessage},
		{name: "failed release leaves a newer sequence's canary", task: "release", result: "fail", keptnContext: "older-sequence", setup: newerCanary,
			wantStatus: "succeeded", wantOutcome: newerOutcome, wantMessages: newerMessage},
		{name: "without context: direct revision of a sequence", task: "rollback",
			setup:      func(c *testCluster) { c.deploy(directCarts1, withSequence(directCarts2, "keptn-context")) },
			wantStatus: "errored", wantMessages: refused},
		{name: "without context: blue/green canary of a sequence", task: "rollback",
			setup: func(c *testCluster) {
				c.deploy(primaryCarts1, canaryCarts1, withSequence(canaryCarts2, "keptn-context"))
				c.routeToCanary()
			},
			wantStatus: "errored", wantMessages: refused},
		{name: "without context: revision without a sequence", task: "rollback",
			setup:      func(c *testCluster) { c.deploy(directCarts1, directCarts2) },
			wantState:  ptrTo(directState(3, "carts:1")),
			wantStatus: "succeeded", wantOutcome: &events.Outcome{Action: "rolled-back", Strategy: "direct", Namespace: ns, ReleaseName: "carts", HelmRevision: 3},
			wantMessages: []string{"from revision 2 back to the previous deployed revision, 1", "as revision 3"}},
		{name: "direct names the revision and the recovery", task: "rollback", keptnContext: "keptn-context",
			setup: func(c *testCluster) {
				c.deploy(directCarts1, directCarts2, revision{name: "carts", strategy: "direct", image: "carts:3", fails: true})
				labels := map[string]string{kube.LabelProject: "sockshop", kube.LabelStage: "staging", kube.LabelService: "carts", kube.LabelStrategy: "direct", kube.LabelContext: "keptn-context"}
				c.leavePending(4, release.StatusPendingUpgrade, time.Hour, labels)
			},
			wantState:  ptrTo(directState(5, "carts:2")),
			wantStatus: "succeeded", wantOutcome: &events.Outcome{Action: "rolled-back", Strategy: "direct", Namespace: ns, ReleaseName: "carts", HelmRevision: 5},
			wantMessages: []string{
				// The age is rounded to the second.
				"release sockshop-staging/carts was left pending-upgrade at revision 4 by an operation that did not end (1h0m",
				"s ago); helm-service marked it failed and rolled back to revision 2",
				"from revision 4 back to the previous deployed revision, 2", "as revision 5"}},
		{name: "blue/green scales only the release's namespace", task: "rollback", keptnContext: "keptn-context", setup: foreignCanary,
			// coredns, which the canary's chart renders into kube-system,
			// keeps its replicas.
			wantState: ptrTo(clusterState{
				Releases: blueGreenState().Releases,
				Workloads: map[string]workloadState{
					ns + "/carts-primary": {Replicas: 2, Side: "primary"},
					ns + "/carts-canary":  {Replicas: 0, Side: "canary"},
					"kube-system/coredns": {Replicas: 2, Side: "canary"},
				},
				RoutedTo: "primary",
			}),
			wantStatus: "succeeded", wantOutcome: &events.Outcome{Action: "rolled-back", Strategy: "blue_green_service", Namespace: ns, ReleaseName: "carts-primary", HelmRevision: 1, Traffic: &events.Traffic{Primary: 100}},
			wantMessages: []string{"rolled back: all traffic goes to primary sockshop-staging/carts-primary at revision 1 (untouched), the canary is scaled to zero"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newTaskFixture(t, taskOptions{})
			c.setup(f.cluster)
			before := f.cluster.state()
			f.deliver(revertEvent(t, c.task, c.result, c.keptnContext))
			common, outcome := lifecycleAnswer(t, f.published, c.task)
			if common.Status != c.wantStatus {
				t.Errorf("finished %s %q, want %s", common.Status, common.Message, c.wantStatus)
			}
			for _, want := range c.wantMessages {
				if !strings.Contains(common.Message, want) {
					t.Errorf("message %q does not say %q", common.Message, want)
				}
			}
			if diff := cmp.Diff(c.wantOutcome, outcome); diff != "" {
				t.Errorf("outcome (-want +got):\n%s", diff)
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

// renderedFrom is r rendered from ch.
func renderedFrom(r revision, ch *chart.Chart) revision {
	r.chart = ch
	return r
}
