package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"helm.sh/helm/v3/pkg/chart"

	"github.com/helm-service/helm-service/pkg/charts"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
	"github.com/helm-service/helm-service/pkg/routing"
)

// chartsNotLoaded is a chart source that fails the test when it is asked
// for a chart.
type chartsNotLoaded struct{ t *testing.T }

func (c chartsNotLoaded) Load(_ context.Context, ref charts.Ref) (*chart.Chart, error) {
	c.t.Errorf("chart %+v loaded", ref)
	return nil, errors.New("no chart in this test")
}

// noClusterTasks are every task built with the given collaborators of the
// cluster, nil or NoCluster.
func noClusterTasks(t *testing.T, c any) []Task {
	charts := chartsNotLoaded{t}
	releases, _ := c.(Releases)
	namespaces, _ := c.(Namespaces)
	router, _ := c.(Router)
	scaler, _ := c.(Scaler)
	return []Task{
		NewDeployment(charts, namespaces, releases, router, scaler, settings),
		NewRelease(releases, router, scaler, lifecycleSettings),
		NewRollback(releases, router, scaler, lifecycleSettings),
		NewAction(releases, router, scaler, nil, ActionSettings{MaxReplicas: 10}),
		NewServiceDelete(releases, router, namespaces, ServiceDeleteSettings{EventSources: []string{"shipyard-controller"}}),
	}
}

// TestNoClusterAnswers sends every task a trigger through the dispatcher
// on a real NATS server, with the cluster's collaborators nil (as the
// tests pass them) and NoCluster (as the service wires them without a
// cluster): a valid trigger is answered errored with kube.ErrNoCluster as
// it is, before any chart is loaded or release read, and an invalid one
// with what is wrong with it, as without a cluster check.
func TestNoClusterAnswers(t *testing.T) {
	target := map[string]any{"project": "sockshop", "stage": "staging", "service": "carts"}
	with := func(extra map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range target {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	unconfigured := with(map[string]any{"status": "errored", "result": "fail", "message": kube.ErrNoCluster.Error()})
	cases := []struct {
		name, task, eventType string
		data                  map[string]any
		want                  map[string]any
	}{{
		name: "deployment", task: "deployment", eventType: "sh.keptn.event.deployment.triggered",
		data: validTrigger(),
		want: with(map[string]any{"labels": map[string]any{"owner": "ops"}, "status": "errored", "result": "fail", "message": kube.ErrNoCluster.Error()}),
	}, {
		name: "deployment with a bad strategy", task: "deployment", eventType: "sh.keptn.event.deployment.triggered",
		data: with(map[string]any{"deployment": map[string]any{"deploymentstrategy": "sideways"}}),
		want: with(map[string]any{"status": "errored", "result": "fail", "message": `deployment.deploymentstrategy "sideways" is not a known strategy: use one of direct, blue_green_service (alias duplicate), user_managed`}),
	}, {
		name: "release", task: "release", eventType: "sh.keptn.event.release.triggered",
		data: with(map[string]any{"result": "pass"}),
		want: unconfigured,
	}, {
		name: "release with a bad result", task: "release", eventType: "sh.keptn.event.release.triggered",
		data: with(map[string]any{"result": "maybe"}),
		want: with(map[string]any{"status": "errored", "result": "fail", "message": `result "maybe" is not a Keptn result: release needs pass, warning (promote) or fail (roll back)`}),
	}, {
		name: "rollback", task: "rollback", eventType: "sh.keptn.event.rollback.triggered",
		data: target,
		want: unconfigured,
	}, {
		name: "scaling", task: "action", eventType: "sh.keptn.event.action.triggered",
		data: with(map[string]any{"action": map[string]any{"action": "scaling", "value": 1}}),
		want: unconfigured,
	}, {
		name: "scaling without a value", task: "action", eventType: "sh.keptn.event.action.triggered",
		data: with(map[string]any{"action": map[string]any{"action": "scaling"}}),
		want: with(map[string]any{"status": "errored", "result": "fail", "message": `action.value is missing: want a whole number of replicas to add, such as 1, "+2" or "-1"`}),
	}, {
		name: "service removal", task: "service.delete", eventType: "sh.keptn.event.service.delete.finished",
		data: map[string]any{"project": "sockshop", "service": "carts"},
		want: map[string]any{"project": "sockshop", "service": "carts", "status": "errored", "result": "fail", "message": kube.ErrNoCluster.Error()},
	}}
	for _, collaborators := range []struct {
		name string
		c    any
	}{{"nil", nil}, {"NoCluster", NoCluster{}}} {
		t.Run(collaborators.name, func(t *testing.T) {
			rig := newNATSRig(t, "sh.keptn.event.service.delete.finished")
			rig.serve(t, NewDispatcher("helm-service", rig.bus, quiet, noClusterTasks(t, collaborators.c), Options{}))
			for i, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					e := cloudevents.NewEvent()
					e.SetID(fmt.Sprintf("no-cluster-%d", i))
					e.SetSource("shipyard-controller")
					e.SetType(tc.eventType)
					if err := e.SetData(cloudevents.ApplicationJSON, tc.data); err != nil {
						t.Fatal(err)
					}
					got := rig.finishedData(t, &e, events.Type(tc.task, events.PhaseFinished))
					// The timings of a .finished vary from run to run.
					if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreMapEntries(func(k string, _ any) bool { return k == "timings" })); diff != "" {
						t.Errorf(".finished data (-want +got):\n%s", diff)
					}
				})
			}
		})
	}
}

// finishedData publishes e and returns the data of helm-service's answer
// of finishedType to it.
func (r *natsRig) finishedData(t *testing.T, e *cloudevents.Event, finishedType string) map[string]any {
	t.Helper()
	finished := r.answerTo(t, e, finishedType)
	var data map[string]any
	if err := json.Unmarshal(finished.Data(), &data); err != nil {
		t.Fatal(err)
	}
	return data
}

// TestNoClusterFailsEveryCall calls every method of NoCluster: each fails
// with kube.ErrNoCluster.
func TestNoClusterFailsEveryCall(t *testing.T) {
	ctx := context.Background()
	n := NoCluster{}
	calls := map[string]func() error{
		"Releases.Upgrade":       func() error { _, err := n.Upgrade(ctx, helm.Request{}); return err },
		"Releases.Get":           func() error { _, err := n.Get(ctx, "ns", "r"); return err },
		"Releases.Find":          func() error { _, err := n.Find(ctx, "ns", nil); return err },
		"Releases.Rollback":      func() error { _, err := n.Rollback(ctx, "ns", "r", 0); return err },
		"Releases.Uninstall":     func() error { return n.Uninstall(ctx, "ns", "r", 0) },
		"Namespaces.Ensure":      func() error { return n.Ensure(ctx, "ns", nil) },
		"Namespaces.List":        func() error { _, err := n.List(ctx); return err },
		"Router.Remove":          func() error { _, err := n.Remove(ctx, "ns", "s"); return err },
		"Router.Route":           func() error { return n.Route(ctx, stableTarget(80), routing.AllPrimary) },
		"Router.Split":           func() error { _, err := n.Split(ctx, stableTarget(80)); return err },
		"Scaler.Scale":           func() error { return n.Scale(ctx, nil, 1) },
		"Scaler.ScaleUpFromZero": func() error { return n.ScaleUpFromZero(ctx, nil) },
		"Scaler.ScaleBy":         func() error { _, err := n.ScaleBy(ctx, kube.Workload{}, 1, 2); return err },
		"Scaler.Replicas":        func() error { _, err := n.Replicas(ctx, kube.Workload{}); return err },
		"Scaler.Kept":            func() error { _, err := n.Kept(ctx, nil); return err },
		"Scaler.DropKept":        func() error { return n.DropKept(ctx, kube.Workload{}) },
		"Scaler.Autoscaler":      func() error { _, err := n.Autoscaler(ctx, kube.Workload{}); return err },
		"Scaler.WaitScaled":      func() error { return n.WaitScaled(ctx, nil) },
		"Namespaces.DeleteIfEmpty": func() error {
			deleted, kept, err := n.DeleteIfEmpty(ctx, "ns")
			if deleted || kept != "" {
				return fmt.Errorf("deleted %v, kept %q", deleted, kept)
			}
			return err
		},
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, kube.ErrNoCluster) {
			t.Errorf("%s: %v, want kube.ErrNoCluster", name, err)
		}
	}
}
