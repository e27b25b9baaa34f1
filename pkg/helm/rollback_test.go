package helm

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/release"
)

func TestRollbackGoesBackOneRevision(t *testing.T) {
	c, cfg := memoryClient(t, nil)
	ch := sampleChart(t)
	req := Request{Namespace: "ns", Name: "carts", Chart: ch, Timeout: time.Minute}
	for _, img := range []string{"carts:1", "carts:2"} {
		req.Values = map[string]any{"image": img, "replicaCount": 1, "service": map[string]any{"port": 80, "targetPort": 8080}, "config": map[string]any{"greeting": img}}
		if _, err := c.Upgrade(context.Background(), req); err != nil {
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
	if _, err := c.Upgrade(context.Background(), Request{Namespace: "ns", Name: "carts", Chart: ch, Values: ch.Values, Timeout: time.Minute}); err != nil {
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
		_, err := c.Upgrade(context.Background(), req)
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

// TestRollbackRecoversPendingRelease: a release left pending by an
// operation that never ended is recovered first; the recovery's rollback to
// the newest deployed revision is the rollback, not one more on top.
func TestRollbackRecoversPendingRelease(t *testing.T) {
	kc := failingKubeClient()
	c, cfg := memoryClient(t, kc)
	c.SetPendingAge(time.Minute)
	deployRevisions(t, c, kc, []string{"carts:1", "carts:2"}, nil)
	leavePending(t, cfg, 3, release.StatusPendingUpgrade, time.Hour)

	res, err := c.Rollback(context.Background(), "ns", "carts", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Recovered, "left pending-upgrade at revision 3") || !strings.Contains(res.Recovered, "rolled back to revision 2") {
		t.Errorf("Recovered = %q, want it to say that revision 3 was pending and rolled back to 2", res.Recovered)
	}
	if res.Revision != 4 || res.RolledBackTo != 2 {
		t.Errorf("after rollback: revision %d rolled back to %d, want 4 rolled back to 2", res.Revision, res.RolledBackTo)
	}
	if r, err := cfg.Releases.Get("carts", 3); err != nil || r.Info.Status != release.StatusFailed {
		t.Errorf("pending revision 3 after recovery: %v (%v), want failed", r.Info.Status, err)
	}
	if last, _ := cfg.Releases.Last("carts"); last.Version != 4 || !strings.Contains(last.Manifest, `image: "carts:2"`) {
		t.Errorf("newest revision %d, want 4 running carts:2", last.Version)
	}
}

// TestRollbackLeavesAYoungPendingReleaseAlone: a pending record younger
// than the pending age may belong to an operation still running.
func TestRollbackLeavesAYoungPendingReleaseAlone(t *testing.T) {
	kc := failingKubeClient()
	c, cfg := memoryClient(t, kc)
	c.SetPendingAge(time.Hour)
	deployRevisions(t, c, kc, []string{"carts:1", "carts:2"}, nil)
	leavePending(t, cfg, 3, release.StatusPendingUpgrade, time.Minute)

	_, err := c.Rollback(context.Background(), "ns", "carts", time.Minute)
	if !errors.Is(err, ErrPendingRelease) || !Pending(err) {
		t.Fatalf("error = %v, want ErrPendingRelease", err)
	}
	if last, _ := cfg.Releases.Last("carts"); last.Version != 3 || last.Info.Status != release.StatusPendingUpgrade {
		t.Errorf("newest revision %d %s, want 3 still pending-upgrade", last.Version, last.Info.Status)
	}
}
