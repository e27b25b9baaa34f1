package reconcile

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/release"
	helmtime "helm.sh/helm/v3/pkg/time"

	"github.com/helm-service/helm-service/pkg/helm"
)

// ourLabels are those helm-service puts on every release record it writes.
var ourLabels = map[string]string{"keptn.sh/project": "p", "keptn.sh/stage": "s", "keptn.sh/service": "carts"}

// storeRecord stores a revision of carts as Helm would, with status,
// started age ago.
func storeRecord(t *testing.T, cfg *action.Configuration, version int, status release.Status, age time.Duration, labels map[string]string) {
	t.Helper()
	ch := sampleChart(t)
	rel := &release.Release{
		Name: "carts", Namespace: "ns", Version: version, Chart: ch, Config: ch.Values, Labels: labels,
		Info: &release.Info{Status: status, LastDeployed: helmtime.Time{Time: time.Now().Add(-age)}},
	}
	if err := cfg.Releases.Create(rel); err != nil {
		t.Fatal(err)
	}
}

// TestDecisionsFromTheReleaseStatus: what the newest record of a release
// calls for (with a pending age of a minute), and what Upgrade then does
// to the release's history.
func TestDecisionsFromTheReleaseStatus(t *testing.T) {
	type outcome struct {
		State   string
		Leased  bool
		Pending bool           // Upgrade's error is a *helm.PendingError
		History map[int]string // revision to status after Upgrade
		Err     string         // Upgrade's error, when not pending
	}
	deployed := func(t *testing.T, r *Releases, _ *kubefake.FailingKubeClient, _ *action.Configuration) {
		deployRevisions(t, r, failingKubeClient(), []string{"carts:1"}, nil)
	}
	for _, tc := range []struct {
		name      string
		exclusive bool
		setup     func(t *testing.T, r *Releases, kc *kubefake.FailingKubeClient, cfg *action.Configuration)
		want      outcome
	}{
		{"none", false, func(*testing.T, *Releases, *kubefake.FailingKubeClient, *action.Configuration) {},
			outcome{State: "absent", History: map[int]string{1: "deployed"}}},
		{"deployed", false, deployed,
			outcome{State: "settled", History: map[int]string{1: "superseded", 2: "deployed"}}},
		// Helm marks the failed revision superseded by the upgrade.
		{"failed", false, func(t *testing.T, r *Releases, kc *kubefake.FailingKubeClient, _ *action.Configuration) {
			deployRevisions(t, r, kc, []string{"carts:1"}, map[string]bool{"carts:1": true})
		}, outcome{State: "settled", History: map[int]string{1: "superseded", 2: "deployed"}}},
		{"pending young", false, func(t *testing.T, r *Releases, kc *kubefake.FailingKubeClient, cfg *action.Configuration) {
			deployed(t, r, kc, cfg)
			storeRecord(t, cfg, 2, release.StatusPendingUpgrade, 5*time.Second, ourLabels)
		}, outcome{State: "busy", Pending: true, History: map[int]string{1: "deployed", 2: "pending-upgrade"}}},
		{"pending old", false, func(t *testing.T, r *Releases, kc *kubefake.FailingKubeClient, cfg *action.Configuration) {
			deployed(t, r, kc, cfg)
			storeRecord(t, cfg, 2, release.StatusPendingUpgrade, 2*time.Hour, nil)
		}, outcome{State: "abandoned", History: map[int]string{1: "superseded", 2: "failed", 3: "superseded", 4: "deployed"}}},
		{"pending old, never deployed", false, func(t *testing.T, _ *Releases, _ *kubefake.FailingKubeClient, cfg *action.Configuration) {
			storeRecord(t, cfg, 1, release.StatusPendingInstall, 2*time.Hour, nil)
		}, outcome{State: "abandoned", History: map[int]string{1: "deployed"}}},
		{"pending young, exclusive, helm-service's record", true, func(t *testing.T, r *Releases, kc *kubefake.FailingKubeClient, cfg *action.Configuration) {
			deployed(t, r, kc, cfg)
			storeRecord(t, cfg, 2, release.StatusPendingUpgrade, 5*time.Second, ourLabels)
		}, outcome{State: "abandoned", Leased: true, History: map[int]string{1: "superseded", 2: "failed", 3: "superseded", 4: "deployed"}}},
		{"pending young, exclusive, another tool's record", true, func(t *testing.T, r *Releases, kc *kubefake.FailingKubeClient, cfg *action.Configuration) {
			deployed(t, r, kc, cfg)
			storeRecord(t, cfg, 2, release.StatusPendingRollback, 5*time.Second, nil)
		}, outcome{State: "busy", Pending: true, History: map[int]string{1: "deployed", 2: "pending-rollback"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kc := failingKubeClient()
			r, _, cfg := memoryReleases(t, kc, time.Minute)
			tc.setup(t, r, kc, cfg)
			ctx := context.Background()
			if tc.exclusive {
				ctx = helm.WithExclusive(ctx)
			}
			obs, err := r.observe(ctx, "ns", "carts")
			if err != nil {
				t.Fatal(err)
			}
			got := outcome{State: obs.state.String(), Leased: obs.leased, History: map[int]string{}}

			ch := sampleChart(t)
			_, err = r.Upgrade(ctx, helm.Request{Namespace: "ns", Name: "carts", Chart: ch, Values: ch.Values, Labels: ourLabels, Timeout: time.Minute})
			var pe *helm.PendingError
			switch {
			case errors.As(err, &pe):
				got.Pending = true
			case err != nil:
				got.Err = err.Error()
			}
			history, _ := cfg.Releases.History("carts")
			for _, rel := range history {
				got.History[rel.Version] = rel.Info.Status.String()
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("decision and outcome (-want +got):\n%s", d)
			}
		})
	}
}

// TestPendingErrorSaysWhenTheRecordCanBeRecovered: a busy release's error
// names the record and how long until it is recovered.
func TestPendingErrorSaysWhenTheRecordCanBeRecovered(t *testing.T) {
	r, _, cfg := memoryReleases(t, nil, time.Minute)
	storeRecord(t, cfg, 1, release.StatusPendingInstall, 20*time.Second, nil)
	_, err := r.Rollback(context.Background(), "ns", "carts", time.Minute)
	var pe *helm.PendingError
	if !errors.As(err, &pe) {
		t.Fatalf("error = %v, want a *helm.PendingError", err)
	}
	want := &helm.PendingError{Namespace: "ns", Name: "carts", Status: "pending-install", Revision: 1, Age: 20 * time.Second, RecoverAfter: 40 * time.Second, PendingAge: time.Minute}
	if d := cmp.Diff(want, pe); d != "" {
		t.Errorf("PendingError (-want +got):\n%s", d)
	}
}

// TestMissingDependencyIsRefusedBeforeRecovery: a chart missing a declared
// dependency is refused before a pending record of its release is touched.
func TestMissingDependencyIsRefusedBeforeRecovery(t *testing.T) {
	r, _, cfg := memoryReleases(t, nil, time.Minute)
	storeRecord(t, cfg, 1, release.StatusPendingInstall, 2*time.Hour, nil)
	ch, err := loader.Load("../../../test/testdata/charts/basket")
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Upgrade(context.Background(), helm.Request{Namespace: "ns", Name: "carts", Chart: ch, Values: ch.Values, Timeout: time.Minute})
	if err == nil || !strings.Contains(err.Error(), "helm dependency build") {
		t.Fatalf("error = %v, want the missing dependency refused", err)
	}
	last, err := cfg.Releases.Last("carts")
	if err != nil {
		t.Fatalf("the pending record is gone after the refusal: %v", err)
	}
	if last.Version != 1 || last.Info.Status != release.StatusPendingInstall {
		t.Errorf("newest revision %d %s after the refusal, want 1 still pending-install", last.Version, last.Info.Status)
	}
}
