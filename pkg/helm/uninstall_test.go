package helm

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/storage/driver"
)

func TestUninstallRemovesReleaseAndHistory(t *testing.T) {
	c, cfg := memoryClient(t, nil)
	ch := sampleChart(t)
	for _, name := range []string{"carts", "carts", "orders"} {
		if _, err := deploy(context.Background(), c, Request{Namespace: "ns", Name: name, Chart: ch, Values: ch.Values, Timeout: time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Uninstall(context.Background(), "ns", "carts", time.Minute); err != nil {
		t.Fatal(err)
	}
	if h, err := cfg.Releases.History("carts"); !errors.Is(err, driver.ErrReleaseNotFound) {
		t.Errorf("history of carts after uninstall: %d revisions, %v; want none", len(h), err)
	}
	if _, err := c.Get(context.Background(), "ns", "orders"); err != nil {
		t.Errorf("orders after uninstalling carts: %v", err)
	}
	err := c.Uninstall(context.Background(), "ns", "carts", time.Minute)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "ns/carts") {
		t.Errorf("second uninstall: %v, want ErrNotFound naming the release", err)
	}
}

func TestUninstallFailureNamesTheRelease(t *testing.T) {
	kc := &kubefake.FailingKubeClient{PrintingKubeClient: kubefake.PrintingKubeClient{Out: io.Discard}}
	c, _ := memoryClient(t, kc)
	ch := sampleChart(t)
	if _, err := deploy(context.Background(), c, Request{Namespace: "ns", Name: "carts", Chart: ch, Values: ch.Values, Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	kc.BuildDummy = true // the objects to delete
	kc.DeleteWithPropagationError = errors.New("forbidden: cannot delete deployments")
	err := c.Uninstall(context.Background(), "ns", "carts", time.Minute)
	if err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "uninstall release ns/carts") {
		t.Errorf("error = %v, want a failed uninstall naming ns/carts", err)
	}
}

func TestUninstallHonoursCancelledContext(t *testing.T) {
	c, _ := memoryClient(t, nil)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Uninstall(cancelled, "ns", "carts", time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
}
