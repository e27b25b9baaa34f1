package helm

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
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
)

// memoryClient is a Client whose namespace "ns" keeps releases in memory
// and applies nothing, so that the install/upgrade logic runs on the real
// Helm SDK without a cluster. The end-to-end tests cover the real cluster.
func memoryClient(t *testing.T, kc *kubefake.FailingKubeClient) (*Client, *action.Configuration) {
	t.Helper()
	if kc == nil {
		kc = &kubefake.FailingKubeClient{PrintingKubeClient: kubefake.PrintingKubeClient{Out: io.Discard}}
	}
	cfg := &action.Configuration{
		Releases:     storage.Init(driver.NewMemory()),
		KubeClient:   kc,
		Capabilities: chartutil.DefaultCapabilities,
		Log:          func(string, ...any) {},
	}
	c := NewClient(nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	c.newConfig = c.confined(func(context.Context, string) (*action.Configuration, error) { return cfg, nil })
	return c, cfg
}

func sampleChart(t *testing.T) *chart.Chart {
	t.Helper()
	c, err := loader.Load("../../test/testdata/charts/carts")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestUpgradeInstallsThenUpgrades(t *testing.T) {
	c, cfg := memoryClient(t, nil)
	ch := sampleChart(t)
	req := Request{Namespace: "ns", Name: "carts", Chart: ch, Values: ch.Values, Labels: map[string]string{"keptn.sh/service": "carts"}, Timeout: time.Minute}

	res, err := deploy(context.Background(), c, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision != 1 || res.Status != "deployed" {
		t.Errorf("first deploy: revision %d status %s, want 1 deployed", res.Revision, res.Status)
	}
	if len(res.Services) != 1 || res.Services[0] != (Service{Name: "carts", Namespace: "ns", Port: 80}) {
		t.Errorf("services = %+v", res.Services)
	}
	if len(res.Workloads) != 1 || res.Workloads[0].Kind != "Deployment" || res.Workloads[0].Name != "carts" {
		t.Errorf("workloads = %+v", res.Workloads)
	}
	if len(res.Images) != 1 || res.Images[0] != "docker.io/keptnexamples/carts:0.13.1" {
		t.Errorf("images = %v, want the chart's image", res.Images)
	}

	req.Values = map[string]any{"image": "carts:2", "replicaCount": 3, "service": map[string]any{"port": 8080, "targetPort": 8080}, "config": map[string]any{"greeting": "hi"}}
	res, err = deploy(context.Background(), c, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Images) != 1 || res.Images[0] != "carts:2" {
		t.Errorf("images after the upgrade = %v, want carts:2", res.Images)
	}
	if res.Revision != 2 || res.Services[0].Port != 8080 {
		t.Errorf("upgrade: revision %d services %+v, want revision 2 on port 8080", res.Revision, res.Services)
	}
	rel, err := cfg.Releases.Last("carts")
	if err != nil {
		t.Fatal(err)
	}
	if rel.Labels["keptn.sh/service"] != "carts" {
		t.Errorf("release labels = %v", rel.Labels)
	}
	if !strings.Contains(rel.Manifest, `image: "carts:2"`) || !strings.Contains(rel.Manifest, "replicas: 3") {
		t.Errorf("manifest does not carry the new values:\n%s", rel.Manifest)
	}
	prev, err := cfg.Releases.Get("carts", 1)
	if err != nil || prev.Info.Status != release.StatusSuperseded {
		t.Errorf("revision 1 status = %v (%v), want superseded", prev.Info.Status, err)
	}
}

func TestUpgradeRenderErrorLeavesReleaseAlone(t *testing.T) {
	c, cfg := memoryClient(t, nil)
	ch := sampleChart(t)
	req := Request{Namespace: "ns", Name: "carts", Chart: ch, Values: ch.Values, Timeout: time.Minute}
	if _, err := deploy(context.Background(), c, req); err != nil {
		t.Fatal(err)
	}
	req.Values = map[string]any{"image": nil, "replicaCount": 1, "service": map[string]any{"port": 80, "targetPort": 80}, "config": map[string]any{}}
	_, err := deploy(context.Background(), c, req)
	if err == nil || !strings.Contains(err.Error(), "values.image is required") || !strings.Contains(err.Error(), "helm upgrade of release ns/carts") {
		t.Fatalf("error = %v, want the render error naming the release", err)
	}
	rel, _ := cfg.Releases.Last("carts")
	if rel.Version != 1 || rel.Info.Status != release.StatusDeployed {
		t.Errorf("after a render error the release is at revision %d %s, want 1 deployed", rel.Version, rel.Info.Status)
	}
}

func TestUpgradeWaitFailureIsReported(t *testing.T) {
	kc := &kubefake.FailingKubeClient{PrintingKubeClient: kubefake.PrintingKubeClient{Out: io.Discard}, WaitError: errors.New("context deadline exceeded")}
	c, cfg := memoryClient(t, kc)
	ch := sampleChart(t)
	_, err := deploy(context.Background(), c, Request{Namespace: "ns", Name: "carts", Chart: ch, Values: ch.Values, Timeout: time.Second})
	if err == nil || !strings.Contains(err.Error(), "helm install of release ns/carts") || !strings.Contains(err.Error(), "context deadline exceeded") {
		t.Fatalf("error = %v", err)
	}
	rel, _ := cfg.Releases.Last("carts")
	if rel == nil || rel.Info.Status != release.StatusFailed {
		t.Errorf("release after failed wait = %+v, want failed", rel)
	}
}

func TestUpgradeRemovesLabelsMarkedForRemoval(t *testing.T) {
	c, cfg := memoryClient(t, nil)
	ch := sampleChart(t)
	req := Request{Namespace: "ns", Name: "carts", Chart: ch, Values: ch.Values, Timeout: time.Minute,
		Labels: map[string]string{"keptn.sh/service": "carts", "keptn.sh/a": "1", "keptn.sh/b": RemoveLabel}}
	if _, err := deploy(context.Background(), c, req); err != nil {
		t.Fatal(err)
	}
	labels := func() map[string]string {
		t.Helper()
		rel, err := cfg.Releases.Last("carts")
		if err != nil {
			t.Fatal(err)
		}
		return rel.Labels
	}
	if got := labels(); got["keptn.sh/a"] != "1" || len(got) != 2 {
		t.Errorf("labels after install = %v, want keptn.sh/service and keptn.sh/a only", got)
	}
	req.Labels = map[string]string{"keptn.sh/service": "carts", "keptn.sh/a": RemoveLabel, "keptn.sh/c": "2"}
	if _, err := deploy(context.Background(), c, req); err != nil {
		t.Fatal(err)
	}
	if got := labels(); got["keptn.sh/c"] != "2" || len(got) != 2 {
		t.Errorf("labels after upgrade = %v, want keptn.sh/service and keptn.sh/c only", got)
	}
}

// deploy installs the release of req, or upgrades it when it has a record:
// the verb package reconcile picks for a release that is not pending.
func deploy(ctx context.Context, c *Client, req Request) (*Result, error) {
	if _, err := c.Status(ctx, req.Namespace, req.Name); errors.Is(err, ErrNotFound) {
		return c.Install(ctx, req)
	}
	return c.Upgrade(ctx, req)
}
