package reconcile

import (
	"context"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"

	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/metrics"
)

func TestClientReportsActionsAndRecoveriesToMetrics(t *testing.T) {
	c, client, cfg := memoryReleases(t, nil, time.Minute)
	m := metrics.New()
	client.SetObserver(m)
	ch := sampleChart(t)
	req := helm.Request{Namespace: "ns", Name: "carts", Chart: ch, Values: ch.Values, Timeout: time.Minute}
	ctx := context.Background()

	if _, err := c.Upgrade(ctx, req); err != nil { // install
		t.Fatal(err)
	}
	if _, err := c.Upgrade(ctx, req); err != nil { // upgrade
		t.Fatal(err)
	}
	leavePending(t, cfg, 3, release.StatusPendingUpgrade, time.Hour)
	if _, err := c.Upgrade(ctx, req); err != nil { // rollback of the pending revision, then upgrade
		t.Fatal(err)
	}
	if _, err := c.Rollback(ctx, "ns", "carts", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := c.Uninstall(ctx, "ns", "carts", time.Minute); err != nil {
		t.Fatal(err)
	}

	counts := map[string]uint64{}
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var recovered float64
	for _, f := range families {
		switch f.GetName() {
		case "helm_service_helm_action_duration_seconds":
			for _, s := range f.GetMetric() {
				counts[s.GetLabel()[0].GetValue()] = s.GetHistogram().GetSampleCount()
			}
		case "helm_service_releases_recovered_total":
			recovered = f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	want := map[string]uint64{"install": 1, "upgrade": 2, "rollback": 2, "uninstall": 1}
	for action, n := range want {
		if counts[action] != n {
			t.Errorf("helm action %s observed %d times, want %d (all: %v)", action, counts[action], n, counts)
		}
	}
	if recovered != 1 {
		t.Errorf("releases recovered = %v, want 1", recovered)
	}
}
