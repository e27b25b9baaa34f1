package handler

import (
	"context"
	"strings"
	"testing"

	"github.com/golang/mock/gomock"
	"github.com/google/go-cmp/cmp"

	"github.com/helm-service/helm-service/handler/mocks"
	"github.com/helm-service/helm-service/pkg/helm"
)

// dryRunningTask is a deployment task whose triggers may be dry runs, as
// the Deployment tells them.
type dryRunningTask struct{ *overlapTask }

func (d dryRunningTask) DryRun(t Trigger) bool { return (&Deployment{}).DryRun(t) }

// TestDryRunNeitherSupersedesNorIsSuperseded: a dry run writes nothing,
// so a dry run of a release newer than a deployment of it does not make
// the deployment be skipped as superseded, and both run, in stream order.
func TestDryRunNeitherSupersedesNorIsSuperseded(t *testing.T) {
	task := dryRunningTask{&overlapTask{superseding: true}}
	ds, rec := replicas(t, 2, task)
	ctx := context.Background()
	dry := validTrigger()
	dry["deployment"] = map[string]any{"deploymentstrategy": "direct", "dryRun": true}

	ds[1].Handle(ctx, deliveryOfData(t, dry, "newer-dry-run", 5))
	ds[0].Handle(ctx, deliveryOf(t, "older", 3))
	ds[0].Handle(ctx, deliveryOfData(t, dry, "oldest-dry-run", 2))
	for id, d := range rec.finishedByID(t) {
		if len(d) != 1 || strings.Contains(d[0].Message, "superseded") {
			t.Errorf("trigger %s answered %+v, want it run", id, d)
		}
	}
	task.mu.Lock()
	defer task.mu.Unlock()
	if diff := cmp.Diff([]string{"newer-dry-run", "older", "oldest-dry-run"}, task.ran); diff != "" {
		t.Errorf("ran (-want +got):\n%s", diff)
	}
}

// TestDryRunsWithoutAPreview: a release asked to be a dry run is refused
// rather than promoted or rolled back, and a deployment dry run without a
// cluster to preview against says so; neither touches a release.
func TestDryRunsWithoutAPreview(t *testing.T) {
	ctrl := gomock.NewController(t)
	// Reads only: a write is an unexpected call.
	releases := mocks.NewMockReleases(ctrl)
	releases.EXPECT().Get(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil, helm.ErrNotFound).AnyTimes()
	releases.EXPECT().Find(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil, nil).AnyTimes()
	namespaces, router, scaler := mocks.NewMockNamespaces(ctrl), mocks.NewMockRouter(ctrl), mocks.NewMockScaler(ctrl)
	for _, c := range []struct {
		name string
		task Task
		want string
	}{
		{"release", NewRelease(releases, router, scaler, LifecycleSettings{}), "field deployment.dryRun: previews need a Kubernetes cluster"},
		{"deployment", NewDeployment(gitCharts{}, namespaces, releases, router, scaler, DeploymentSettings{}), "field deployment.dryRun: previews need a Kubernetes cluster"},
	} {
		t.Run(c.name, func(t *testing.T) {
			data := validTrigger()
			data["result"] = "pass"
			data["deployment"] = map[string]any{"deploymentstrategy": "direct", "dryRun": true}
			e := triggerEvent(t, data)
			tr := Trigger{Event: *e, Log: quiet, Target: Target{Namespace: "sockshop-staging"}}
			_, err := c.task.Run(context.Background(), tr)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Run = %v, want an error with %q", err, c.want)
			}
		})
	}
}
