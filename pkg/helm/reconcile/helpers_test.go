package reconcile

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	helmtime "helm.sh/helm/v3/pkg/time"

	"github.com/helm-service/helm-service/pkg/helm"
)

// memoryReleases are Releases on a helm.Client whose namespace "ns" keeps
// releases in memory and applies nothing, so that the decisions and the
// verbs run on the real Helm SDK without a cluster. pendingAge is the
// pending age. The end-to-end tests cover the real cluster.
func memoryReleases(t *testing.T, kc *kubefake.FailingKubeClient, pendingAge time.Duration) (*Releases, *helm.Client, *action.Configuration) {
	t.Helper()
	if kc == nil {
		kc = failingKubeClient()
	}
	cfg := &action.Configuration{
		Releases:     storage.Init(driver.NewMemory()),
		KubeClient:   kc,
		Capabilities: chartutil.DefaultCapabilities,
		Log:          func(string, ...any) {},
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	c := helm.NewClientOn(func(context.Context, string) (*action.Configuration, error) { return cfg, nil }, log)
	return New(c, pendingAge, log), c, cfg
}

func failingKubeClient() *kubefake.FailingKubeClient {
	return &kubefake.FailingKubeClient{PrintingKubeClient: kubefake.PrintingKubeClient{Out: io.Discard}}
}

func sampleChart(t *testing.T) *chart.Chart {
	t.Helper()
	c, err := loader.Load("../../../test/testdata/charts/carts")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// leavePending stores a revision in a pending state, as a process killed
// mid-operation leaves it, started age ago.
func leavePending(t *testing.T, cfg *action.Configuration, version int, status release.Status, age time.Duration) {
	t.Helper()
	ch := sampleChart(t)
	rel := &release.Release{
		Name: "carts", Namespace: "ns", Version: version, Chart: ch, Config: ch.Values,
		Info: &release.Info{Status: status, LastDeployed: helmtime.Time{Time: time.Now().Add(-age)}},
	}
	if err := cfg.Releases.Create(rel); err != nil {
		t.Fatal(err)
	}
}

// deployRevisions deploys carts once per image; an image listed in
// failing gets a failed wait, so its revision is failed.
func deployRevisions(t *testing.T, r *Releases, kc *kubefake.FailingKubeClient, images []string, failing map[string]bool) {
	t.Helper()
	ch := sampleChart(t)
	req := helm.Request{Namespace: "ns", Name: "carts", Chart: ch, Timeout: time.Minute}
	for _, img := range images {
		req.Values = map[string]any{"image": img, "replicaCount": 1, "service": map[string]any{"port": 80, "targetPort": 8080}, "config": map[string]any{"greeting": img}}
		kc.WaitError = nil
		if failing[img] {
			kc.WaitError = errors.New("pods not ready")
		}
		_, err := r.Upgrade(context.Background(), req)
		if failing[img] != (err != nil) {
			t.Fatalf("deploy %s: error %v, want failure %v", img, err, failing[img])
		}
	}
	kc.WaitError = nil
}
