package reconcile

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"

	"github.com/helm-service/helm-service/pkg/helm"
)

// TestRollbackRecoversPendingRelease: a release left pending by an
// operation that never ended is recovered first; the recovery's rollback to
// the newest deployed revision is the rollback, not one more on top.
func TestRollbackRecoversPendingRelease(t *testing.T) {
	kc := failingKubeClient()
	c, _, cfg := memoryReleases(t, kc, time.Minute)
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
	c, _, cfg := memoryReleases(t, kc, time.Hour)
	deployRevisions(t, c, kc, []string{"carts:1", "carts:2"}, nil)
	leavePending(t, cfg, 3, release.StatusPendingUpgrade, time.Minute)

	_, err := c.Rollback(context.Background(), "ns", "carts", time.Minute)
	if !errors.Is(err, helm.ErrPendingRelease) || !helm.Pending(err) {
		t.Fatalf("error = %v, want helm.ErrPendingRelease", err)
	}
	if last, _ := cfg.Releases.Last("carts"); last.Version != 3 || last.Info.Status != release.StatusPendingUpgrade {
		t.Errorf("newest revision %d %s, want 3 still pending-upgrade", last.Version, last.Info.Status)
	}
}
