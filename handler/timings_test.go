package handler

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestFinishedCarriesTimings runs a deployment, a blue/green one and an
// errored one through the dispatcher, on the real Helm SDK and a fake
// cluster, and checks which phases their .finished timings name. The fake
// cluster's Helm client has no readiness wait of helm-service's: no wait
// phase here (the e2e tests see it).
func TestFinishedCarriesTimings(t *testing.T) {
	direct := validTrigger()
	bad := validTrigger()
	bad["deployment"] = map[string]any{"deploymentstrategy": "no-such-strategy"}
	cases := []struct {
		name    string
		trigger func(t *testing.T) map[string]any
		setup   func(*testCluster)
		want    []string
	}{
		{name: "direct install", trigger: func(*testing.T) map[string]any { return direct },
			want: []string{"apply", "chartFetch", "publish", "queued", "render"}},
		{name: "blue/green canary is routed", setup: func(c *testCluster) { c.deploy(primaryCarts1) },
			trigger: func(*testing.T) map[string]any {
				in := validTrigger()
				in["deployment"] = map[string]any{"deploymentstrategy": "blue_green_service"}
				return in
			},
			want: []string{"apply", "chartFetch", "publish", "queued", "render", "route"}},
		{name: "refused before loading a chart", trigger: func(*testing.T) map[string]any { return bad },
			want: []string{"publish", "queued"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newTaskFixture(t, taskOptions{})
			if c.setup != nil {
				c.setup(f.cluster)
			}
			start := time.Now()
			f.deliver(triggerEvent(t, c.trigger(t)))
			took := time.Since(start)
			ev, _ := f.published.finished(t)
			var data struct {
				Timings map[string]int64 `json:"timings"`
			}
			if err := json.Unmarshal(ev.Data(), &data); err != nil {
				t.Fatal(err)
			}
			var phases []string
			var sum int64
			for phase, ms := range data.Timings {
				phases = append(phases, phase)
				if ms < 0 {
					t.Errorf("timings[%s] = %d, want ≥ 0", phase, ms)
				}
				sum += ms
			}
			slices.Sort(phases)
			if diff := cmp.Diff(c.want, phases); diff != "" {
				t.Errorf("phases of %v (-want +got):\n%s", data.Timings, diff)
			}
			if sum > took.Milliseconds() {
				t.Errorf("timings %v add up to %dms, more than the task's %s", data.Timings, sum, took)
			}
		})
	}
}
