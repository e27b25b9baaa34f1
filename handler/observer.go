package handler

import "time"

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
	// TaskPhase reports the time a task spent in one phase of its
	// timings (pkg/timings), as its .finished says.
	TaskPhase(task, phase string, d time.Duration)
}

// Outcomes reported to Observer.TaskDone besides a .finished result.
const (
	outcomeErrored    = "errored"
	outcomeSuperseded = "superseded"
	outcomeHandedBack = "handed_back"
)

type noObserver struct{}

func (noObserver) TaskQueued()                             {}
func (noObserver) TaskLeft()                               {}
func (noObserver) TaskRan(string, time.Duration)           {}
func (noObserver) TaskDone(string, string)                 {}
func (noObserver) TaskPhase(string, string, time.Duration) {}
