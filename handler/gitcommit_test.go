package handler

import (
	"context"
	"testing"

	"github.com/golang/mock/gomock"
	"helm.sh/helm/v3/pkg/chart"

	"github.com/helm-service/helm-service/eventbus"
	"github.com/helm-service/helm-service/handler/mocks"
	"github.com/helm-service/helm-service/pkg/charts"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
)

// gitCharts is a chart source that reads git: it says which commit each
// chart came from.
type gitCharts struct{ commit string }

func (g gitCharts) Load(ctx context.Context, ref charts.Ref) (*chart.Chart, error) {
	ch, _, err := g.LoadCommit(ctx, ref)
	return ch, err
}

func (g gitCharts) LoadCommit(context.Context, charts.Ref) (*chart.Chart, string, error) {
	return testChart(), g.commit, nil
}

// TestGitCommitIsTheDeployedCommit checks deployment.gitCommit of direct
// and blue/green deployments: the commit a git source read the chart from
// (a branch head: the trigger has no gitcommitid), else the trigger's
// gitcommitid.
func TestGitCommitIsTheDeployedCommit(t *testing.T) {
	const head, triggers = "a62d3dabfa63918a99caa1b536a69837d879c08f", "0123abc"
	for _, c := range []struct {
		name, strategy, triggerCommit, want string
		git                                 bool
	}{
		{"git direct", "direct", "", head, true},
		{"git blue/green", "blue_green_service", "", head, true},
		{"dir direct", "direct", triggers, triggers, false},
		{"dir blue/green", "blue_green_service", triggers, triggers, false},
		{"dir without gitcommitid", "direct", "", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctrl := gomock.NewController(t)
			var src ChartSource = gitCharts{commit: head}
			if !c.git {
				dir := mocks.NewMockChartSource(ctrl)
				dir.EXPECT().Load(gomock.Any(), gomock.Any()).Return(testChart(), nil)
				src = dir
			}
			nss, rels, router := mocks.NewMockNamespaces(ctrl), mocks.NewMockReleases(ctrl), mocks.NewMockRouter(ctrl)
			nss.EXPECT().Ensure(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil)
			rels.EXPECT().Get(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil, helm.ErrNotFound).AnyTimes()
			rels.EXPECT().Upgrade(gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, req helm.Request) (*helm.Result, error) {
				return &helm.Result{Namespace: req.Namespace, Name: req.Name, Revision: 1, Services: []helm.Service{{Name: req.Name, Namespace: req.Namespace, Port: 80}}}, nil
			}).AnyTimes()
			router.EXPECT().Route(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil).AnyTimes()
			pub := mocks.NewMockPublisher(ctrl)
			published := &recorder{}
			published.expect(pub)
			d := NewDispatcher("helm-service", pub, quiet, []Task{NewDeployment(src, nss, rels, router, mocks.NewMockScaler(ctrl), settings)}, Options{})

			data := validTrigger()
			data["deployment"] = map[string]any{"deploymentstrategy": c.strategy}
			e := triggerEvent(t, data)
			if c.triggerCommit != "" {
				e.SetExtension(events.ExtGitCommitID, c.triggerCommit)
			}
			d.Handle(context.Background(), eventbus.Delivery{Subject: e.Type(), Event: e})

			_, finished := published.finished(t)
			if finished.Status != events.StatusSucceeded {
				t.Fatalf("finished %s: %s", finished.Status, finished.Message)
			}
			if got := finished.Deployment.GitCommit; got != c.want {
				t.Errorf("deployment.gitCommit = %q, want %q", got, c.want)
			}
		})
	}
}
