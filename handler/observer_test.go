package handler

import (
	"context"
	"strings"
	"testing"

	"github.com/golang/mock/gomock"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/metrics"
)

func TestDispatcherReportsTasksToMetrics(t *testing.T) {
	f := newFixture(t)
	m := metrics.New()
	f.redispatch(Options{Observer: m})
	f.charts.EXPECT().Load(gomock.Any(), gomock.Any()).Return(testChart(), nil)
	f.namespaces.EXPECT().Ensure(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil)
	f.releases.EXPECT().Get(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil, helm.ErrNotFound)
	f.releases.EXPECT().Upgrade(gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, req helm.Request) (*helm.Result, error) {
		return &helm.Result{Namespace: req.Namespace, Name: req.Name, Revision: 1, Status: "deployed"}, nil
	})

	f.deliver(triggerEvent(t, validTrigger()))
	bad := validTrigger()
	delete(bad, "service")
	f.deliver(triggerEvent(t, bad))

	want := `
# HELP helm_service_tasks_total Tasks answered or handed back, by task and result (pass, warning, fail, errored, superseded, handed_back).
# TYPE helm_service_tasks_total counter
helm_service_tasks_total{result="errored",task="deployment"} 1
helm_service_tasks_total{result="pass",task="deployment"} 1
# HELP helm_service_queue_depth Tasks waiting in a release queue or running.
# TYPE helm_service_queue_depth gauge
helm_service_queue_depth 0
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "helm_service_tasks_total", "helm_service_queue_depth"); err != nil {
		t.Error(err)
	}
	if n := histogramCount(t, m, "helm_service_task_duration_seconds"); n != 2 {
		t.Errorf("task duration observations = %d, want 2", n)
	}
}

// histogramCount is the number of observations of a histogram, over all
// its series.
func histogramCount(t *testing.T, m *metrics.Metrics, name string) uint64 {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, s := range f.GetMetric() {
			n += s.GetHistogram().GetSampleCount()
		}
	}
	return n
}

// counterValue is the value of the counter series with exactly the given
// labels, 0 when there is none.
func counterValue(t *testing.T, m *metrics.Metrics, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, s := range f.GetMetric() {
			if len(s.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range s.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue series
				}
			}
			return s.GetCounter().GetValue()
		}
	}
	return 0
}
