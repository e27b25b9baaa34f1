package e2e

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/helm-service/helm-service/pkg/events"
)

// finishedTimings reads the timings of a .finished, as the bus carries
// them: milliseconds by phase.
func finishedTimings(t *testing.T, data []byte) map[string]int64 {
	t.Helper()
	var in struct {
		Timings map[string]int64 `json:"timings"`
	}
	if err := json.Unmarshal(data, &in); err != nil {
		t.Fatalf("finished data %s: %v", data, err)
	}
	return in.Timings
}

// expectTimings checks that a .finished's timings have exactly the phases
// want (and not those of absent), none negative, adding up to no more than
// took, the time from the trigger's publish to the .finished's arrival.
func expectTimings(t *testing.T, what string, got map[string]int64, took time.Duration, want, absent []string) {
	t.Helper()
	if len(got) == 0 {
		t.Fatalf("%s: .finished has no timings", what)
	}
	var sum int64
	for phase, ms := range got {
		if ms < 0 {
			t.Errorf("%s: timings[%s] = %d, want ≥ 0", what, phase, ms)
		}
		sum += ms
	}
	for _, phase := range want {
		if _, ok := got[phase]; !ok {
			t.Errorf("%s: timings %v have no %s", what, got, phase)
		}
	}
	for _, phase := range absent {
		if _, ok := got[phase]; ok {
			t.Errorf("%s: timings %v have %s, a phase the task does not have", what, got, phase)
		}
	}
	if sum > took.Milliseconds() {
		t.Errorf("%s: timings %v add up to %dms, more than the %dms from trigger to .finished", what, got, sum, took.Milliseconds())
	}
	t.Logf("%s: timings %v (sum %dms of %s)", what, got, sum, took.Round(time.Millisecond))
}

// TestTimingsOfADeployment installs and upgrades a direct service and
// scales it: each .finished says where its time went.
func TestTimingsOfADeployment(t *testing.T) {
	project, stage := suite.project("timings"), "staging"
	deployPhases := []string{"queued", "chartFetch", "render", "apply", "wait", "publish"}
	for i, image := range []string{"example/carts:1", "example/carts:2"} {
		start := time.Now()
		id := suite.trigger(t, suite.nats, deploymentTrigger(project, stage, "carts", "direct", map[string]any{"image": image}))
		ev, data := suite.finished(t, id, deployTimeout)
		took := time.Since(start)
		expectSucceeded(t, data)
		expectTimings(t, []string{"install", "upgrade"}[i], finishedTimings(t, ev.Data()), took, deployPhases, []string{"route"})
	}

	start := time.Now()
	id := suite.publish(t, events.Type(events.TaskAction, events.PhaseTriggered), actionTrigger(project, stage, "carts", events.ActionScaling, 1))
	answers := suite.answers.await(t, id, deployTimeout)
	took := time.Since(start)
	last := answers[len(answers)-1]
	var data events.ActionFinished
	if err := json.Unmarshal(last.Data(), &data); err != nil || data.Result != events.ResultPass {
		t.Fatalf("scaling finished %s (%v)", last.Data(), err)
	}
	expectTimings(t, "scaling", finishedTimings(t, last.Data()), took, []string{"queued", "apply", "wait", "publish"}, []string{"chartFetch", "render", "route"})
}
