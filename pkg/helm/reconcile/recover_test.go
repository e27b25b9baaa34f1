package reconcile

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"
	helmtime "helm.sh/helm/v3/pkg/time"

	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/tasklog"
)

func TestRecoverPendingUpgradeRollsBack(t *testing.T) {
	c, _, cfg := memoryReleases(t, nil, time.Minute)
	ch := sampleChart(t)
	req := helm.Request{Namespace: "ns", Name: "carts", Chart: ch, Values: ch.Values, Timeout: time.Minute}
	if _, err := c.Upgrade(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	leavePending(t, cfg, 2, release.StatusPendingUpgrade, time.Hour)

	res, err := c.Upgrade(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"left pending-upgrade at revision 2", "marked it failed and rolled back to revision 1"} {
		if !strings.Contains(res.Recovered, want) {
			t.Errorf("Recovered = %q, want it to say %q", res.Recovered, want)
		}
	}
	if res.Revision != 4 || res.Status != "deployed" {
		t.Errorf("after recovery: revision %d %s, want 4 deployed (2 failed, 3 the rollback)", res.Revision, res.Status)
	}
	for version, want := range map[int]release.Status{2: release.StatusFailed, 3: release.StatusSuperseded} {
		r, err := cfg.Releases.Get("carts", version)
		if err != nil || r.Info.Status != want {
			t.Errorf("revision %d: %v (%v), want %s", version, r.Info.Status, err, want)
		}
	}
}

func TestRecoverNeverDeployedUninstalls(t *testing.T) {
	c, _, cfg := memoryReleases(t, nil, time.Minute)
	leavePending(t, cfg, 1, release.StatusPendingInstall, time.Hour)
	ch := sampleChart(t)
	res, err := c.Upgrade(context.Background(), helm.Request{Namespace: "ns", Name: "carts", Chart: ch, Values: ch.Values, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Recovered, "never been deployed, so helm-service uninstalled it") {
		t.Errorf("Recovered = %q", res.Recovered)
	}
	if res.Revision != 1 || res.Status != "deployed" {
		t.Errorf("after recovery: revision %d %s, want a fresh install at 1", res.Revision, res.Status)
	}
}

func TestRecentPendingIsLeftAlone(t *testing.T) {
	c, _, cfg := memoryReleases(t, nil, time.Hour)
	leavePending(t, cfg, 1, release.StatusPendingInstall, time.Minute)
	ch := sampleChart(t)
	_, err := c.Upgrade(context.Background(), helm.Request{Namespace: "ns", Name: "carts", Chart: ch, Values: ch.Values, Timeout: time.Minute})
	if !errors.Is(err, helm.ErrPendingRelease) || !strings.Contains(err.Error(), "PENDING_RELEASE_AGE") {
		t.Fatalf("error = %v, want helm.ErrPendingRelease naming PENDING_RELEASE_AGE", err)
	}
	var pe *helm.PendingError
	if !errors.As(err, &pe) || pe.RecoverAfter < 58*time.Minute || pe.RecoverAfter > time.Hour || pe.Status != "pending-install" || pe.Revision != 1 {
		t.Errorf("helm.PendingError = %+v, want pending-install at 1, recoverable in about 59m", pe)
	}
	if !helm.Pending(err) {
		t.Error("helm.Pending(err) = false")
	}
	r, _ := cfg.Releases.Last("carts")
	if r.Info.Status != release.StatusPendingInstall {
		t.Errorf("a recent pending release was touched: %s", r.Info.Status)
	}
}

// TestRecoveryLogsWithTheTasksLogger checks that the client logs through
// the logger of the task in its context, so that its lines carry the
// task's fields.
func TestRecoveryLogsWithTheTasksLogger(t *testing.T) {
	c, _, cfg := memoryReleases(t, nil, time.Minute)
	ch := sampleChart(t)
	req := helm.Request{Namespace: "ns", Name: "carts", Chart: ch, Values: ch.Values, Timeout: time.Minute}
	if _, err := c.Upgrade(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	leavePending(t, cfg, 2, release.StatusPendingUpgrade, time.Hour)

	var out bytes.Buffer
	ctx := tasklog.With(context.Background(), slog.New(slog.NewTextHandler(&out, nil)).With("triggeredid", "trigger-1"))
	if _, err := c.Upgrade(ctx, req); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "recovering a pending release") || !strings.Contains(out.String(), "triggeredid=trigger-1") {
		t.Errorf("log = %q, want the recovery logged with the task's fields", out.String())
	}
}

// A task that holds the release's lease against every other helm-service
// recovers a young pending record that helm-service wrote at once: its
// operation died with its process. A young record without helm-service's
// labels (another tool's), or one met without the lease (core mode), keeps
// the pending age.
func TestYoungPendingRecordUnderLeaseIsRecoveredAtOnce(t *testing.T) {
	ours := map[string]string{"keptn.sh/project": "p", "keptn.sh/stage": "s", "keptn.sh/service": "carts"}
	for _, c := range []struct {
		name      string
		labels    map[string]string
		exclusive bool
		recovered bool
	}{
		{"helm-service's record under lease", ours, true, true},
		{"helm-service's record without lease", ours, false, false},
		{"another tool's record under lease", nil, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			client, _, cfg := memoryReleases(t, nil, 0)
			ch := sampleChart(t)
			rel := &release.Release{
				Name: "carts", Namespace: "ns", Version: 1, Chart: ch, Config: ch.Values, Labels: c.labels,
				Info: &release.Info{Status: release.StatusPendingInstall, LastDeployed: helmtime.Time{Time: time.Now().Add(-5 * time.Second)}},
			}
			if err := cfg.Releases.Create(rel); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if c.exclusive {
				ctx = helm.WithExclusive(ctx)
			}
			res, err := client.Upgrade(ctx, helm.Request{Namespace: "ns", Name: "carts", Chart: ch, Values: ch.Values, Labels: ours, Timeout: time.Minute})
			if !c.recovered {
				if !errors.Is(err, helm.ErrPendingRelease) {
					t.Fatalf("error = %v, want the pending age to hold", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(res.Recovered, "stopped mid-operation") || res.Status != "deployed" {
				t.Errorf("recovered %q, status %s; want recovered at once and deployed", res.Recovered, res.Status)
			}
		})
	}
}
