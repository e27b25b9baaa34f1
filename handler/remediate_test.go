package handler

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/kube"
)

func remediationEvent(t *testing.T, action string) map[string]any {
	t.Helper()
	return map[string]any{
		"project": "sockshop", "stage": "staging", "service": "carts",
		"action": map[string]any{"name": "remediate", "action": action},
	}
}

// TestRemediationActions drives the rollback and restart actions through
// the dispatcher on the real Helm SDK and a fake cluster, and compares the
// answer, per workload, and the cluster afterwards.
func TestRemediationActions(t *testing.T) {
	deploy := func(revisions ...revision) func(*testCluster) {
		return func(c *testCluster) { c.deploy(revisions...) }
	}
	reverted := change(blueGreenState(), func(s *clusterState) {
		s.Workloads = map[string]workloadState{
			ns + "/carts-primary": {Replicas: 2, Side: "primary"},
			ns + "/carts-canary":  {Replicas: 0, Side: "canary"},
		}
		s.RoutedTo = "primary"
	})
	restarted := func(kind, name, release string) events.WorkloadAction {
		return events.WorkloadAction{Kind: kind, Name: name, Release: release, Did: "restarted"}
	}
	cases := []struct {
		name       string
		action     string
		setup      func(*testCluster)
		wantState  *clusterState
		wantStatus string
		want       *events.ActionFinished
		// wantMessage is contained in the message.
		wantMessage string
	}{{
		name: "direct rollback to the previous revision, made by another sequence", action: "rollback",
		setup:     deploy(directCarts1, withSequence(directCarts2, "deploying-sequence")),
		wantState: ptrTo(directState(3, "carts:1")), wantStatus: "succeeded",
		want: &events.ActionFinished{Rollback: &events.ActionResult{
			Outcome:   events.Outcome{Action: "rolled-back", Strategy: "direct", Namespace: ns, ReleaseName: "carts", HelmRevision: 3},
			Workloads: []events.WorkloadAction{{Kind: "Deployment", Name: "carts", Release: "carts", Did: "rolled back from revision 2, now at revision 3, ready"}},
		}},
		wantMessage: "went from revision 2 back to the previous deployed revision, 1",
	}, {
		name: "direct rollback without an earlier revision", action: "rollback", setup: deploy(directCarts1),
		wantStatus: "errored", wantMessage: "roll back: roll back release sockshop-staging/carts from revision 1",
	}, {
		name: "blue/green rollback routes to and keeps the primary", action: "rollback", setup: blueGreenDeployed,
		wantState: &reverted, wantStatus: "succeeded",
		want: &events.ActionFinished{Rollback: &events.ActionResult{
			Outcome: events.Outcome{Action: "rolled-back", Strategy: "blue_green_service", Namespace: ns, ReleaseName: "carts-primary", HelmRevision: 1, Traffic: &events.Traffic{Primary: 100}},
			Workloads: []events.WorkloadAction{
				{Kind: "Deployment", Name: "carts-primary", Release: "carts-primary", Did: "serves all traffic at revision 1 (untouched)"},
				{Kind: "Deployment", Name: "carts-canary", Release: "carts-canary", Did: "scaled to 0 replicas"},
			},
		}},
		wantMessage: "all traffic goes to primary",
	}, {
		name: "direct restart", action: "restart", setup: deploy(directCarts1, directCarts2), wantStatus: "succeeded",
		want: &events.ActionFinished{Restart: &events.ActionResult{
			Outcome:   events.Outcome{Action: "restarted", Strategy: "direct", Namespace: ns, ReleaseName: "carts", HelmRevision: 2},
			Workloads: []events.WorkloadAction{restarted("Deployment", "carts", "carts")},
		}},
		wantMessage: "restarted release sockshop-staging/carts: deployment sockshop-staging/carts",
	}, {
		name: "blue/green restart of a live canary restarts both sides", action: "restart", setup: blueGreenDeployed, wantStatus: "succeeded",
		want: &events.ActionFinished{Restart: &events.ActionResult{
			Outcome:   events.Outcome{Action: "restarted", Strategy: "blue_green_service", Namespace: ns, ReleaseName: "carts-canary", HelmRevision: 2},
			Workloads: []events.WorkloadAction{restarted("Deployment", "carts-canary", "carts-canary"), restarted("Deployment", "carts-primary", "carts-primary")},
		}},
		wantMessage: "on both sides",
	}, {
		name: "restart of a service never deployed", action: "restart", wantStatus: "errored", wantMessage: "restart: ",
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// A failed release leaves a direct service alone with this
			// setting; the rollback action asks for the rollback itself.
			f := newTaskFixture(t, taskOptions{lifecycle: &LifecycleSettings{RollbackDirectOnFail: false}})
			if c.setup != nil {
				c.setup(f.cluster)
			}
			before := f.cluster.state()
			f.deliver(eventOf(t, "sh.keptn.event.action.triggered", remediationEvent(t, c.action)))
			got := actionAnswer(t, f.published)
			if got.Status != c.wantStatus || !strings.Contains(got.Message, c.wantMessage) {
				t.Fatalf("finished %s: %q, want %s containing %q", got.Status, got.Message, c.wantStatus, c.wantMessage)
			}
			if c.want != nil {
				ignore := cmp.Options{
					cmpopts.IgnoreFields(events.ActionFinished{}, "Common"),
					cmpopts.IgnoreFields(events.WorkloadAction{}, "RestartedAt"),
				}
				if diff := cmp.Diff(c.want, &got, ignore); diff != "" {
					t.Errorf("answer (-want +got):\n%s", diff)
				}
			}
			if got.Restart != nil {
				for _, w := range got.Restart.Workloads {
					if _, err := time.Parse(time.RFC3339Nano, w.RestartedAt); err != nil {
						t.Errorf("restartedAt of %s = %q: %v", w.Name, w.RestartedAt, err)
					}
					d, err := f.cluster.clientset.AppsV1().Deployments(ns).Get(context.Background(), w.Name, metav1.GetOptions{})
					if err != nil {
						t.Fatal(err)
					}
					if at := d.Spec.Template.Annotations[kube.AnnotationRestartedAt]; at != w.RestartedAt {
						t.Errorf("%s: pod template %s = %q, want the answer's %q", w.Name, kube.AnnotationRestartedAt, at, w.RestartedAt)
					}
				}
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

// TestOtherActionsAreIgnored: only scaling, rollback and restart are
// helm-service's; any other action gets no answer at all.
func TestOtherActionsAreIgnored(t *testing.T) {
	for _, action := range []string{"toggle-feature", "Rollback", "restart-pod", ""} {
		t.Run(action, func(t *testing.T) {
			f := newTaskFixture(t, taskOptions{})
			f.cluster.deploy(directCarts1)
			f.deliver(eventOf(t, "sh.keptn.event.action.triggered", remediationEvent(t, action)))
			f.published.mu.Lock()
			defer f.published.mu.Unlock()
			if len(f.published.events) != 0 {
				var types []string
				for _, e := range f.published.events {
					types = append(types, e.Type())
				}
				t.Errorf("action %q was answered %v, want no answer", action, types)
			}
		})
	}
	a := &Action{}
	for action, want := range map[string]bool{"scaling": true, "rollback": true, "restart": true, "toggle-feature": false} {
		data, _ := json.Marshal(remediationEvent(t, action))
		e := eventOf(t, "sh.keptn.event.action.triggered", json.RawMessage(data))
		if got := a.Accepts(Trigger{Event: *e}); got != want {
			t.Errorf("Accepts(%s) = %v, want %v", action, got, want)
		}
	}
}
