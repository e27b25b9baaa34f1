package helm

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/chart"

	"github.com/helm-service/helm-service/pkg/timings"
)

// TestActionPhases runs the Helm verbs on the real SDK with its memory
// driver and checks which phases of the task's timings each records.
func TestActionPhases(t *testing.T) {
	broken := func(t *testing.T) *chart.Chart {
		ch := sampleChart(t)
		ch.Templates = append(ch.Templates, &chart.File{Name: "templates/broken.yaml", Data: []byte("{{ .Values.nope.deeper }}")})
		return ch
	}
	cases := []struct {
		name    string
		run     func(ctx context.Context, c *Client, req Request) error
		chart   func(t *testing.T) *chart.Chart
		wantErr bool
		want    []timings.Phase
	}{
		{name: "install renders and applies", run: func(ctx context.Context, c *Client, req Request) error {
			_, err := c.Install(ctx, req)
			return err
		}, want: []timings.Phase{timings.Render, timings.Apply}},
		{name: "upgrade renders and applies", run: func(ctx context.Context, c *Client, req Request) error {
			if _, err := c.Install(context.Background(), req); err != nil {
				return err
			}
			_, err := c.Upgrade(ctx, req)
			return err
		}, want: []timings.Phase{timings.Render, timings.Apply}},
		{name: "a chart that does not render is all render", chart: broken, wantErr: true, run: func(ctx context.Context, c *Client, req Request) error {
			_, err := c.Install(ctx, req)
			return err
		}, want: []timings.Phase{timings.Render}},
		{name: "rollback applies", run: func(ctx context.Context, c *Client, req Request) error {
			for range 2 {
				if _, err := deploy(context.Background(), c, req); err != nil {
					return err
				}
			}
			_, err := c.Rollback(ctx, req.Namespace, req.Name, time.Minute)
			return err
		}, want: []timings.Phase{timings.Apply}},
		{name: "uninstall applies", run: func(ctx context.Context, c *Client, req Request) error {
			if _, err := c.Install(context.Background(), req); err != nil {
				return err
			}
			return c.Uninstall(ctx, req.Namespace, req.Name, time.Minute)
		}, want: []timings.Phase{timings.Apply}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := memoryClient(t, nil)
			ch := sampleChart(t)
			if tc.chart != nil {
				ch = tc.chart(t)
			}
			req := Request{Namespace: "ns", Name: "carts", Chart: ch, Values: ch.Values, Labels: map[string]string{"keptn.sh/service": "carts"}, Timeout: time.Minute}
			rec := timings.New()
			start := time.Now()
			err := tc.run(timings.With(context.Background(), rec), c, req)
			took := time.Since(start)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error = %v, want error %v", err, tc.wantErr)
			}
			spent := rec.Durations()
			var got []timings.Phase
			var sum time.Duration
			for p, d := range spent {
				got = append(got, p)
				sum += d
				if d < 0 {
					t.Errorf("%s = %s, want ≥ 0", p, d)
				}
			}
			slices.Sort(got)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("phases of %v (-want +got):\n%s", spent, diff)
			}
			if sum > took {
				t.Errorf("phases add up to %s, more than the %s the action took", sum, took)
			}
		})
	}
}

// TestActionPhasesLeaveTheWaitOut: the time the waiting client records as
// wait during an action is not counted again as apply.
func TestActionPhasesLeaveTheWaitOut(t *testing.T) {
	rec := timings.New()
	ctx := timings.With(context.Background(), rec)
	p := phasesOf(ctx)
	time.Sleep(30 * time.Millisecond)
	rec.Add(timings.Wait, time.Hour) // more than the action took: apply is clamped to 0
	p.end(false)
	if d, _ := rec.Spent(timings.Apply); d != 0 {
		t.Errorf("apply = %s, want 0 once a wait longer than the action is taken out", d)
	}

	rec = timings.New()
	ctx = timings.With(context.Background(), rec)
	rec.Add(timings.Wait, time.Hour) // a wait before the action is not the action's
	p = phasesOf(ctx)
	time.Sleep(30 * time.Millisecond)
	rec.Add(timings.Wait, 10*time.Millisecond)
	p.end(false)
	if d, _ := rec.Spent(timings.Apply); d < 20*time.Millisecond || d > time.Second {
		t.Errorf("apply = %s, want the action's 30ms or more less its own 10ms wait", d)
	}
}
