package handler

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/helm-service/helm-service/pkg/answer"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/lanes"
	"github.com/helm-service/helm-service/pkg/metrics"
)

// TestOutcomeMapsResultsToAnswersAndMetrics: the one switch from a task's
// result to its .finished and to the outcome counted in the metrics.
func TestOutcomeMapsResultsToAnswersAndMetrics(t *testing.T) {
	superseded := &lanes.SupersededError{By: "newer", Kind: "deployment", Releases: []string{"sockshop-staging/carts"}}
	cases := []struct {
		name     string
		finished events.Finished
		err      error
		want     *events.Common // nil: handed back unanswered
		counted  string
	}{
		{"a task that ran passes unless it says otherwise", &events.DeploymentFinished{}, nil,
			&events.Common{Status: events.StatusSucceeded, Result: events.ResultPass}, "pass"},
		{"a task's own result is kept", &events.Common{Result: events.ResultWarning, Message: "slow"}, nil,
			&events.Common{Status: events.StatusSucceeded, Result: events.ResultWarning, Message: "slow"}, "warning"},
		{"a task that failed is answered errored with its error", nil, errors.New("helm upgrade: chart broken"),
			&events.Common{Status: events.StatusErrored, Result: events.ResultFail, Message: "helm upgrade: chart broken"}, "errored"},
		{"a superseded task is answered errored and counted superseded", nil, superseded,
			&events.Common{Status: events.StatusErrored, Result: events.ResultFail, Message: superseded.Error()}, "superseded"},
		{"a task handed back gets no answer", nil, &handBackError{lanes.ErrStopping}, nil, "handed_back"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := metrics.New()
			d := NewDispatcher("helm-service", nil, quiet, nil, Options{Observer: m})
			tr := Trigger{Log: quiet}
			finished, err := d.outcome(&overlapTask{}, tr, c.finished, c.err)
			if c.want == nil {
				if !errors.Is(err, answer.ErrHandBack) || !errors.Is(err, c.err) || finished != nil {
					t.Errorf("outcome = %v, %v; want no answer and an error wrapping answer.ErrHandBack and %v", finished, err, c.err)
				}
			} else {
				if err != nil {
					t.Fatalf("outcome error %v, want an answer", err)
				}
				if diff := cmp.Diff(c.want, finished.Base()); diff != "" {
					t.Errorf(".finished (-want +got):\n%s", diff)
				}
			}
			if got := counterValue(t, m, "helm_service_tasks_total", map[string]string{"task": "deployment", "result": c.counted}); got != 1 {
				t.Errorf("tasks_total{deployment,%s} = %v, want 1", c.counted, got)
			}
		})
	}
}
