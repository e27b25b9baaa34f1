package helm

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	helmtime "helm.sh/helm/v3/pkg/time"
)

// leavePending stores a revision in a pending state, as a process killed
// mid-operation leaves it, started age ago.
func leavePending(t *testing.T, cfg *action.Configuration, version int, status release.Status, age time.Duration) {
	t.Helper()
	ch := sampleChart(t)
	rel := &release.Release{
		Name: "carts", Namespace: "ns", Version: version, Chart: ch, Config: ch.Values,
		Labels: map[string]string{"keptn.sh/service": "carts"},
		Info:   &release.Info{Status: status, LastDeployed: helmtime.Time{Time: time.Now().Add(-age)}},
	}
	if err := cfg.Releases.Create(rel); err != nil {
		t.Fatal(err)
	}
}

// TestPendingRecognizesHelmsOwnRefusal: an upgrade Helm refuses because
// the release became pending after its status was read (another operation
// began in between) is a RefusedError that Pending recognizes, with Helm's
// text.
func TestPendingRecognizesHelmsOwnRefusal(t *testing.T) {
	c, cfg := memoryClient(t, nil)
	leavePending(t, cfg, 1, release.StatusPendingUpgrade, time.Second)
	ch := sampleChart(t)
	_, err := c.Upgrade(context.Background(), Request{Namespace: "ns", Name: "carts", Chart: ch, Values: ch.Values, Timeout: time.Minute})
	if err == nil || !Pending(err) {
		t.Fatalf("Helm's upgrade of a pending release: Pending(%v) = false", err)
	}
	var refused *RefusedError
	if !errors.As(err, &refused) {
		t.Errorf("error %v is no RefusedError", err)
	}
	if want := "helm upgrade of release ns/carts: " + helmPending; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if Pending(errors.New("chart is broken")) || Pending(nil) {
		t.Error("Pending is true for an unrelated error")
	}
	if Pending(errors.New(helmPending)) {
		t.Error("Pending reads Helm's text outside the verbs")
	}
}

func TestStatusReadsTheNewestRecord(t *testing.T) {
	c, cfg := memoryClient(t, nil)
	if _, err := c.Status(context.Background(), "ns", "carts"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("status of a release without records: %v, want ErrNotFound", err)
	}
	ch := sampleChart(t)
	if _, err := c.Install(context.Background(), Request{Namespace: "ns", Name: "carts", Chart: ch, Values: ch.Values, Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	leavePending(t, cfg, 2, release.StatusPendingUpgrade, time.Hour)
	got, err := c.Status(context.Background(), "ns", "carts")
	if err != nil {
		t.Fatal(err)
	}
	if age := time.Since(got.Since); age < time.Hour || age > time.Hour+time.Minute {
		t.Errorf("Since = %s, %s ago; want an hour ago", got.Since, age)
	}
	got.Since = time.Time{}
	want := &Status{Namespace: "ns", Name: "carts", Revision: 2, State: release.StatusPendingUpgrade, Labels: map[string]string{"keptn.sh/service": "carts"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("status (-want +got):\n%s", d)
	}
}

// TestRecoverIsAVerb: Recover recovers whatever pending record it finds,
// whatever its age (the caller decides), and refuses a record that is not
// pending.
func TestRecoverIsAVerb(t *testing.T) {
	type outcome struct {
		Recovery *Recovery
		Err      string
		Statuses map[int]release.Status
	}
	ch := sampleChart(t)
	req := Request{Namespace: "ns", Name: "carts", Chart: ch, Values: ch.Values, Timeout: time.Minute}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, c *Client, cfg *action.Configuration)
		want  outcome
	}{
		{"deployed, then pending a second ago", func(t *testing.T, c *Client, cfg *action.Configuration) {
			if _, err := c.Install(context.Background(), req); err != nil {
				t.Fatal(err)
			}
			leavePending(t, cfg, 2, release.StatusPendingUpgrade, time.Second)
		}, outcome{Recovery: &Recovery{Status: "pending-upgrade", Revision: 2, RolledBackTo: 1}, Statuses: map[int]release.Status{1: release.StatusSuperseded, 2: release.StatusFailed, 3: release.StatusDeployed}}},
		{"never deployed", func(t *testing.T, c *Client, cfg *action.Configuration) {
			leavePending(t, cfg, 1, release.StatusPendingInstall, time.Second)
		}, outcome{Recovery: &Recovery{Status: "pending-install", Revision: 1}, Statuses: map[int]release.Status{}}},
		{"deployed", func(t *testing.T, c *Client, cfg *action.Configuration) {
			if _, err := c.Install(context.Background(), req); err != nil {
				t.Fatal(err)
			}
		}, outcome{Err: "recover release ns/carts at revision 1: " + ErrNotPending.Error(), Statuses: map[int]release.Status{1: release.StatusDeployed}}},
		{"no record", func(*testing.T, *Client, *action.Configuration) {},
			outcome{Err: "recover release ns/carts: " + ErrNotFound.Error(), Statuses: map[int]release.Status{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, cfg := memoryClient(t, nil)
			tc.setup(t, c, cfg)
			rec, err := c.Recover(context.Background(), "ns", "carts", time.Minute)
			got := outcome{Recovery: rec, Statuses: map[int]release.Status{}}
			if err != nil {
				got.Err = err.Error()
			}
			history, _ := cfg.Releases.History("carts")
			for _, r := range history {
				got.Statuses[r.Version] = r.Info.Status
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("recover (-want +got):\n%s", d)
			}
		})
	}
}
