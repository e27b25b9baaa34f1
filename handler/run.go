package handler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/helm-service/helm-service/eventbus"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
	"github.com/helm-service/helm-service/pkg/lanes"
	"github.com/helm-service/helm-service/pkg/retry"
	"github.com/helm-service/helm-service/pkg/timings"
)

// run waits for the task's turn on the releases of its target and runs it
// under the retry rules; decodeErr and targetErr, when set, are its
// answer. It returns done, which lets the next task of those releases go.
// A *handBackError means the task did not run to an answer because
// helm-service is stopping: the delivery goes back to the bus unanswered.
func (d *Dispatcher) run(ctx context.Context, del eventbus.Delivery, task Task, t Trigger, decodeErr, targetErr error) (finished events.Finished, done func(), err error) {
	done = func() {}
	if decodeErr != nil {
		return nil, done, decodeErr
	}
	if del.LastAttempt() && del.Attempt > 1 {
		return nil, done, fmt.Errorf("%s was delivered %d times without being answered (helm-service stopped or lost its connection during each attempt); giving up", t.Event.Type(), del.Attempt)
	}
	if targetErr != nil {
		return nil, done, targetErr
	}
	d.opts.Observer.TaskQueued()
	defer d.opts.Observer.TaskLeft()
	s, ok := task.(Superseding)
	kind, superseding := task.Name(), ok && s.Superseding()
	dr, ok := task.(DryRunTeller)
	dryRun := ok && dr.DryRun(t)
	if dryRun {
		kind, superseding = task.Name()+" dry run", false
	}
	queued := timings.Time(ctx, timings.Queued)
	pass, err := d.lanes.Enter(ctx, lanes.Ticket{Releases: t.Target.Releases, Kind: kind, ID: t.Event.ID(), Seq: del.Seq, Superseding: superseding, Log: t.Log})
	queued()
	var superseded *lanes.SupersededError
	switch {
	case errors.As(err, &superseded):
		return nil, pass.Leave, err
	case err != nil:
		pass.Leave()
		return nil, done, &handBackError{err}
	}
	ctx = pass.Context()
	if pass.Exclusive() {
		// Holding the leases, no other helm-service works on the releases:
		// a pending record one left behind died with it and is recovered
		// at once.
		ctx = helm.WithExclusive(ctx)
	}
	t.pass = pass
	start := time.Now()
	finished, err = retry.Run(ctx, pass.WaitContext(), d.retry(t.Log), func(ctx context.Context) (events.Finished, error) {
		// The records and the namespace the ownership check reads serve
		// the task too, and Helm's reads of a release's records are
		// answered from the first (helm.WithRecordMemo); each attempt reads
		// afresh.
		ctx = kube.WithNamespaceMemo(helm.WithRecordMemo(withReadOnce(ctx)))
		if err := d.opts.Ownership.check(ctx, t, dryRun); err != nil {
			return nil, err
		}
		return runSafely(ctx, task, t)
	})
	d.opts.Observer.TaskRan(task.Name(), time.Since(start))
	// Shutdown cancelled the task, or came while it waited to run again or
	// for a release it holds while it runs: whatever it did is redone on
	// the next delivery, which also recovers a release it left pending.
	var stopped *retry.StoppedError
	switch {
	case errors.As(err, &stopped):
		pass.Leave()
		return nil, done, &handBackError{lanes.ErrStopping}
	case ctx.Err() != nil:
		pass.Leave()
		return nil, done, &handBackError{fmt.Errorf("cancelled by shutdown: %w", context.Cause(ctx))}
	case errors.Is(err, lanes.ErrStopping):
		pass.Leave()
		return nil, done, &handBackError{err}
	}
	pass.Ran(ctx)
	return finished, pass.Leave, err
}

// handBackError says the task did not run to an answer: its delivery goes
// back to the bus unanswered, for another replica or the next start.
type handBackError struct{ err error }

func (e *handBackError) Error() string { return e.err.Error() }
func (e *handBackError) Unwrap() error { return e.err }

// retry is the policy a task runs under: the rules of retryRules with the
// configured budgets.
func (d *Dispatcher) retry(log *slog.Logger) retry.Policy {
	return retry.Policy{Rules: retryRules(d.opts.ClusterRetryTimeout, d.opts.PendingRetryTimeout), Backoff: d.opts.RetryBackoff, Log: log}
}

// runSafely runs the task and turns a panic into an error.
func runSafely(ctx context.Context, task Task, t Trigger) (finished events.Finished, err error) {
	defer func() {
		if r := recover(); r != nil {
			t.Log.Error("task panicked", "panic", r, "stack", string(debug.Stack()))
			finished, err = nil, fmt.Errorf("internal error while handling %s (a bug in helm-service; please report it): %v", t.Event.Type(), r)
		}
	}()
	return task.Run(ctx, t)
}
