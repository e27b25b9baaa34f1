package helm

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	kubefake "helm.sh/helm/v3/pkg/kube/fake"
)

func TestRollbackGoesBackOneRevision(t *testing.T) {
	c, cfg := memoryClient(t, nil)
	ch := sampleChart(t)
	req := Request{Namespace: "ns", Name: "carts", Chart: ch, Timeout: time.Minute}
	for _, img := range []string{"carts:1", "carts:2"} {
		req.Values = map[string]any{"image": img, "replicaCount": 1, "service": map[string]any{"port": 80, "targetPort": 8080}, "config": map[string]any{"greeting": img}}
		if _, err := deploy(context.Background(), c, req); err != nil {
			t.Fatal(err)
		}
	}
	res, err := c.Rollback(context.Background(), "ns", "carts", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision != 3 {
		t.Errorf("revision after rollback = %d, want 3", res.Revision)
	}
	rel, _ := cfg.Releases.Last("carts")
	if !strings.Contains(rel.Manifest, `image: "carts:1"`) {
		t.Errorf("rolled back manifest does not run carts:1:\n%s", rel.Manifest)
	}
	got, err := c.Get(context.Background(), "ns", "carts")
	if err != nil || got.Values["image"] != "carts:1" || got.Revision != 3 {
		t.Errorf("Get after rollback = %+v, %v", got, err)
	}
}

func TestRollbackWithoutPreviousRevision(t *testing.T) {
	c, _ := memoryClient(t, nil)
	ch := sampleChart(t)
	if _, err := deploy(context.Background(), c, Request{Namespace: "ns", Name: "carts", Chart: ch, Values: ch.Values, Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Rollback(context.Background(), "ns", "carts", time.Minute)
	if !errors.Is(err, ErrNoPreviousRevision) || !strings.Contains(err.Error(), "ns/carts") {
		t.Errorf("error = %v, want ErrNoPreviousRevision naming the release", err)
	}
	if _, err := c.Rollback(context.Background(), "ns", "orders", time.Minute); !errors.Is(err, ErrNotFound) {
		t.Errorf("rollback of a missing release: %v, want ErrNotFound", err)
	}
}

// deployRevisions upgrades carts once per image on the memory driver; an
// image listed in failing gets a failed wait, so its revision is failed.
func deployRevisions(t *testing.T, c *Client, kc *kubefake.FailingKubeClient, images []string, failing map[string]bool) {
	t.Helper()
	ch := sampleChart(t)
	req := Request{Namespace: "ns", Name: "carts", Chart: ch, Timeout: time.Minute}
	for _, img := range images {
		req.Values = map[string]any{"image": img, "replicaCount": 1, "service": map[string]any{"port": 80, "targetPort": 8080}, "config": map[string]any{"greeting": img}}
		kc.WaitError = nil
		if failing[img] {
			kc.WaitError = errors.New("pods not ready")
		}
		_, err := deploy(context.Background(), c, req)
		if failing[img] != (err != nil) {
			t.Fatalf("deploy %s: error %v, want failure %v", img, err, failing[img])
		}
	}
	kc.WaitError = nil
}

func failingKubeClient() *kubefake.FailingKubeClient {
	return &kubefake.FailingKubeClient{PrintingKubeClient: kubefake.PrintingKubeClient{Out: io.Discard}}
}

// TestRollbackSkipsFailedRevisions: a rollback goes to the newest earlier
// revision that was deployed, past the failed ones in between.
func TestRollbackSkipsFailedRevisions(t *testing.T) {
	kc := failingKubeClient()
	c, cfg := memoryClient(t, kc)
	deployRevisions(t, c, kc, []string{"carts:1", "carts:2", "carts:3", "carts:4"}, map[string]bool{"carts:3": true, "carts:4": true})

	res, err := c.Rollback(context.Background(), "ns", "carts", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision != 5 || res.RolledBackTo != 2 || res.Status != "deployed" {
		t.Errorf("after rollback: revision %d (rolled back to %d) %s, want revision 5 rolled back to 2, deployed", res.Revision, res.RolledBackTo, res.Status)
	}
	rel, _ := cfg.Releases.Last("carts")
	if !strings.Contains(rel.Manifest, `image: "carts:2"`) {
		t.Errorf("rolled back to the wrong revision: the manifest does not run carts:2:\n%s", rel.Manifest)
	}
}

// TestRollbackWithoutDeployedRevision: when no earlier revision was ever
// deployed, nothing is rolled back and the error says so.
func TestRollbackWithoutDeployedRevision(t *testing.T) {
	kc := failingKubeClient()
	c, cfg := memoryClient(t, kc)
	deployRevisions(t, c, kc, []string{"carts:1", "carts:2"}, map[string]bool{"carts:1": true, "carts:2": true})

	_, err := c.Rollback(context.Background(), "ns", "carts", time.Minute)
	if !errors.Is(err, ErrNoPreviousRevision) || !strings.Contains(err.Error(), "ns/carts") || !strings.Contains(err.Error(), "revision 1 failed") {
		t.Errorf("error = %v, want ErrNoPreviousRevision naming the release and its failed revision 1", err)
	}
	if rel, _ := cfg.Releases.Last("carts"); rel.Version != 2 {
		t.Errorf("release is at revision %d after a refused rollback, want 2 (untouched)", rel.Version)
	}
}
