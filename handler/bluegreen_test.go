package handler

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/golang/mock/gomock"
	"helm.sh/helm/v3/pkg/chart"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/helm-service/helm-service/handler/mocks"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
	"github.com/helm-service/helm-service/pkg/routing"
	"github.com/helm-service/helm-service/pkg/vargroups"
)

const snapshotID = "0123456789abcdef"

var canarySnapshot = vargroups.Snapshot{ID: snapshotID, Name: vargroups.SnapshotSecret("carts", snapshotID), Checksum: snapshotID + strings.Repeat("0", 48)}

// withLabels is a copy of r with labels added.
func withLabels(r *helm.Record, labels map[string]string) *helm.Record {
	out := *r
	out.Labels = map[string]string{}
	for k, v := range r.Labels {
		out.Labels[k] = v
	}
	for k, v := range labels {
		out.Labels[k] = v
	}
	return &out
}

// withSubchartsDeclared is r with a chart that declares a subchart, as
// Helm's release record stores it: without the subchart itself.
func withSubchartsDeclared(r *helm.Record) *helm.Record {
	out := *r
	ch := *testChart()
	md := *ch.Metadata
	md.Dependencies = []*chart.Dependency{{Name: "cache", Version: "0.1.0"}}
	ch.Metadata = &md
	out.Chart = &ch
	return &out
}

// canaryRendered is canaryV2 as a deployment with a rollout and variables
// records it.
var canaryRendered = withLabels(canaryV2, map[string]string{
	kube.LabelRolloutStrategy: "RollingUpdate", kube.LabelRolloutMaxSurge: "50pct", vargroups.LabelSnapshot: snapshotID,
})

// TestPromoteRendersThePrimaryAsTheCanary: the primary is upgraded with the
// rollout and the variable snapshot the canary's release record keeps, and
// snapshots neither side reads any more are collected.
func TestPromoteRendersThePrimaryAsTheCanary(t *testing.T) {
	f := newFixture(t)
	vars := mocks.NewMockVariables(f.ctrl)
	f.release.WithVariables(vars)
	f.releases.EXPECT().Find(gomock.Any(), ns, map[string]string{kube.LabelService: "carts"}).Return([]*helm.Record{primaryV1, canaryRendered}, nil).Times(2)
	vars.EXPECT().ReadSnapshot(gomock.Any(), ns, "carts", snapshotID).Return(canarySnapshot, nil)
	f.scaler.EXPECT().Kept(gomock.Any(), primaryV1.Workloads).Return(nil, nil)
	half := intstr.FromString("50%")
	f.releases.EXPECT().Upgrade(gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, req helm.Request) (*helm.Result, error) {
		if want := (kube.Rollout{Type: appsv1.RollingUpdateDeploymentStrategyType, MaxSurge: &half}); !equality.Semantic.DeepEqual(req.Rollout, want) {
			t.Errorf("primary rollout = %+v, want the canary's %+v", req.Rollout, want)
		}
		want := helm.VariablesPostRenderer{Secrets: []string{canarySnapshot.Name}, Checksum: canarySnapshot.Checksum, Snapshot: snapshotID}
		if req.Variables == nil || fmt.Sprint(*req.Variables) != fmt.Sprint(want) {
			t.Errorf("primary variables = %+v, want the canary's snapshot %+v", req.Variables, want)
		}
		if req.Labels[vargroups.LabelSnapshot] != snapshotID || req.Labels[kube.LabelRolloutMaxSurge] != "50pct" ||
			req.Labels[kube.LabelRolloutMaxUnavailable] != helm.RemoveLabel || req.Labels[kube.LabelDeployment] != "primary" {
			t.Errorf("primary labels = %v", req.Labels)
		}
		return &helm.Result{Namespace: ns, Name: req.Name, Revision: 2, Services: []helm.Service{{Name: "carts-primary", Namespace: ns, Port: 80}},
			ForcedRecreate: []string{"Deployment carts-primary uses Recreate instead of RollingUpdate: it mounts the ReadWriteOnce PersistentVolumeClaim carts-primary-data"}}, nil
	})
	f.router.EXPECT().Route(gomock.Any(), stableTarget(80), routing.AllPrimary).Return(nil)
	f.router.EXPECT().Split(gomock.Any(), stableTarget(80)).Return(routing.AllPrimary, nil)
	f.scaler.EXPECT().Scale(gomock.Any(), canaryV2.Workloads, int32(0)).Return(nil)
	f.releases.EXPECT().Get(gomock.Any(), ns, "carts-primary").Return(withLabels(primaryV1, map[string]string{vargroups.LabelSnapshot: snapshotID}), nil)
	f.releases.EXPECT().Get(gomock.Any(), ns, "carts-canary").Return(canaryRendered, nil)
	vars.EXPECT().CollectSnapshots(gomock.Any(), ns, "carts", []string{snapshotID, snapshotID}).Return([]string{"helm-service-vars-carts-fedcba9876543210"}, nil)

	e := triggerEvent(t, lifecycleEvent(t, "release", "pass"))
	e.SetType(events.Type("release", events.PhaseTriggered))
	f.deliver(e)
	common, outcome := lifecycleAnswer(t, f.published, "release")
	if common.Status != events.StatusSucceeded || outcome == nil || outcome.Action != events.ActionPromoted {
		t.Fatalf("finished %s %+v: %s", common.Status, outcome, common.Message)
	}
	if !strings.Contains(common.Message, "rollout and variables") || !strings.Contains(common.Message, "uses Recreate instead of RollingUpdate") {
		t.Errorf("message %q does not say what the primary got", common.Message)
	}
}

// TestPromoteRefusesACanaryItCannotRenderAgain: a canary whose release
// record does not say how it was rendered, or whose snapshot is gone, is
// not promoted, and the message says what to do.
func TestPromoteRefusesACanaryItCannotRenderAgain(t *testing.T) {
	for _, c := range []struct {
		name   string
		canary *helm.Record
		read   error
		want   []string
	}{
		{"no snapshot label", canaryV2, nil, []string{"has no label keptn.sh/variables-snapshot", "deploy it again"}},
		{"bad rollout label", withLabels(canaryRendered, map[string]string{kube.LabelRolloutMaxSurge: "lots"}), nil,
			[]string{"release label keptn.sh/rollout-max-surge", "deploy it again"}},
		{"chart with subcharts", withSubchartsDeclared(canaryRendered), nil,
			[]string{"has subcharts", "keeps the chart without them", "traffic unchanged", "direct strategy"}},
		{"snapshot gone", canaryRendered, errors.New("variable snapshot sockshop-staging/helm-service-vars-carts-0123456789abcdef does not exist (deleted by hand?)"),
			[]string{"label keptn.sh/variables-snapshot", "does not exist", "traffic unchanged", "deploy it again"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			vars := mocks.NewMockVariables(f.ctrl)
			f.release.WithVariables(vars)
			f.releases.EXPECT().Find(gomock.Any(), ns, gomock.Any()).Return([]*helm.Record{primaryV1, c.canary}, nil).Times(2)
			if c.read != nil {
				vars.EXPECT().ReadSnapshot(gomock.Any(), ns, "carts", snapshotID).Return(vargroups.Snapshot{}, c.read)
			}
			e := triggerEvent(t, lifecycleEvent(t, "release", "pass"))
			e.SetType(events.Type("release", events.PhaseTriggered))
			f.deliver(e)
			common, _ := lifecycleAnswer(t, f.published, "release")
			if common.Status != events.StatusErrored {
				t.Fatalf("finished %s: %s, want errored", common.Status, common.Message)
			}
			for _, w := range c.want {
				if !strings.Contains(common.Message, w) {
					t.Errorf("message %q does not contain %q", common.Message, w)
				}
			}
		})
	}
}

// TestDeploymentBlueGreenSnapshotsVariables: a canary deployment snapshots
// the groups as the trigger's variables would leave them, renders the
// canary with the snapshot and records it and the rollout on the release,
// and writes the variables to the groups only once the canary is ready.
func TestDeploymentBlueGreenSnapshotsVariables(t *testing.T) {
	for _, failing := range []bool{false, true} {
		t.Run(map[bool]string{false: "ready canary", true: "failing canary"}[failing], func(t *testing.T) {
			f := newFixture(t)
			vars := mocks.NewMockVariables(f.ctrl)
			f.deployment.WithVariables(vars)
			f.charts.EXPECT().Load(gomock.Any(), gomock.Any()).Return(testChart(), nil)
			f.namespaces.EXPECT().Ensure(gomock.Any(), ns, gomock.Any()).Return(nil)
			groups := vargroups.Groups{Service: map[string][]byte{"FEATURE": []byte("on")}}
			preview := vars.EXPECT().Preview(gomock.Any(), ns, "carts", gomock.Any(), gomock.Any()).Return([]string{"service.FEATURE"}, groups, nil)
			snap := vars.EXPECT().Snapshot(gomock.Any(), ns, "carts", groups).Return(canarySnapshot, nil).After(preview)
			f.releases.EXPECT().Get(gomock.Any(), ns, "carts-primary").Return(primaryV1, nil)
			f.releases.EXPECT().Get(gomock.Any(), ns, "carts-canary").Return(canaryV2, nil)
			f.scaler.EXPECT().ScaleUpFromZero(gomock.Any(), canaryV2.Workloads).Return(nil)
			upgrade := f.releases.EXPECT().Upgrade(gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, req helm.Request) (*helm.Result, error) {
				want := helm.VariablesPostRenderer{Secrets: []string{canarySnapshot.Name}, Checksum: canarySnapshot.Checksum, Snapshot: snapshotID}
				if req.Name != "carts-canary" || req.Variables == nil || fmt.Sprint(*req.Variables) != fmt.Sprint(want) {
					t.Errorf("%s upgraded with variables %+v, want %+v", req.Name, req.Variables, want)
				}
				if req.Labels[vargroups.LabelSnapshot] != snapshotID || req.Labels[kube.LabelRolloutStrategy] != "Recreate" || req.Labels[kube.LabelRolloutMaxSurge] != helm.RemoveLabel {
					t.Errorf("canary labels = %v", req.Labels)
				}
				if failing {
					return nil, errors.New("helm upgrade of release sockshop-staging/carts-canary: timed out")
				}
				return &helm.Result{Namespace: ns, Name: req.Name, Revision: 3, Services: []helm.Service{{Name: req.Name, Namespace: ns, Port: 8080}}}, nil
			}).After(snap)
			if !failing {
				applied := vars.EXPECT().Apply(gomock.Any(), ns, "carts", gomock.Any(), gomock.Any()).DoAndReturn(
					func(_ context.Context, _, _ string, global, svc vargroups.Changes) ([]string, vargroups.Groups, error) {
						if len(global) != 0 || len(svc) != 1 || *svc["FEATURE"] != "on" {
							t.Errorf("written: global %v, service %v", global, svc)
						}
						return []string{"service.FEATURE"}, groups, nil
					}).After(upgrade)
				f.router.EXPECT().Route(gomock.Any(), stableTarget(8080), routing.AllCanary).Return(nil).After(applied)
			}
			// The snapshots are collected after the deployment, failed or not;
			// the primary, untouched, is not read again (readOnceReleases).
			f.releases.EXPECT().Get(gomock.Any(), ns, "carts-canary").Return(canaryRendered, nil).After(upgrade)
			vars.EXPECT().CollectSnapshots(gomock.Any(), ns, "carts", []string{snapshotID}).Return(nil, nil).After(upgrade)

			in := validTrigger()
			in["deployment"] = map[string]any{"deploymentstrategy": "blue_green_service", "variables": map[string]any{"FEATURE": "on"}, "rollout": map[string]any{"strategy": "Recreate"}}
			f.deliver(triggerEvent(t, in))
			_, data := f.published.finished(t)
			if failing {
				if data.Status != events.StatusErrored {
					t.Fatalf("finished %s: %s, want errored", data.Status, data.Message)
				}
				return
			}
			if data.Status != events.StatusSucceeded || fmt.Sprint(data.Deployment.ChangedVariables) != "[service.FEATURE]" {
				t.Fatalf("finished %s: %s, changedVariables %v", data.Status, data.Message, data.Deployment)
			}
		})
	}
}
