package lanes

import (
	"errors"
	"fmt"
)

// ErrStopping is returned to tasks that had not started when the lanes
// stopped taking work.
var ErrStopping = errors.New("helm-service is shutting down; the task did not start and will be delivered again")

// SupersededError says a task was not run because a newer trigger for its
// releases replaces it: one queued behind it, or one that already ran, in
// this process or on another replica. Either way it is an outcome of its
// own, not an error of the task.
type SupersededError struct {
	By, Kind string
	Releases []string // release keys
	Ran      bool     // the newer trigger already ran
}

func (e *SupersededError) Error() string {
	newer := "queued behind this one"
	if e.Ran {
		newer = "that already ran"
	}
	return fmt.Sprintf("superseded by trigger %s, a newer %s of %s %s; this one was not run", e.By, e.Kind, Describe(e.Releases), newer)
}
