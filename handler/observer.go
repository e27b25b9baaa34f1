package handler

import (
	"errors"
	"time"

	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/lanes"
)

// Observer is told about the dispatcher's tasks (for metrics). Its methods
// must be quick and safe for concurrent use; *metrics.Metrics implements it.
type Observer interface {
	// TaskQueued and TaskLeft bracket a task's time in its release's
	// queue and on the worker pool.
	TaskQueued()
	TaskLeft()
	// TaskRan reports how long a task ran.
	TaskRan(task string, d time.Duration)
	// TaskDone reports a task's outcome: its .finished result, or
	// "errored", "superseded" or "handed_back".
	TaskDone(task, result string)
}

// Outcomes reported to Observer.TaskDone besides a .finished result.
const (
	outcomeErrored    = "errored"
	outcomeSuperseded = "superseded"
	outcomeHandedBack = "handed_back"
)

type noObserver struct{}

func (noObserver) TaskQueued()                   {}
func (noObserver) TaskLeft()                     {}
func (noObserver) TaskRan(string, time.Duration) {}
func (noObserver) TaskDone(string, string)       {}

// outcomeOf is the outcome of a task that was answered: err is the task's
// error, finished its answer when it has none.
func outcomeOf(finished events.Finished, err error) string {
	var superseded *lanes.SupersededError
	switch {
	case errors.As(err, &superseded):
		return outcomeSuperseded
	case err != nil:
		return outcomeErrored
	}
	return finished.Base().Result
}
