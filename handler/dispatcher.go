// Package handler turns Keptn triggers into work: one file per task kind,
// and a dispatcher that answers each trigger with .started and .finished.
package handler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/helm-service/helm-service/eventbus"
	"github.com/helm-service/helm-service/pkg/answer"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
	"github.com/helm-service/helm-service/pkg/ledger"
	"github.com/helm-service/helm-service/pkg/tasklog"
	"github.com/helm-service/helm-service/pkg/tracing"
)

// Task does the work of one kind of trigger.
type Task interface {
	// Name is the Keptn task, e.g. "deployment"; the task handles
	// sh.keptn.event.<name>.triggered.
	Name() string
	// Run does the work. It returns the data of .finished; the dispatcher
	// fills in the common part (target, status, result unless set).
	Run(ctx context.Context, t Trigger) (events.Finished, error)
}

// Accepter is a Task that handles only some of its triggers. The
// dispatcher asks it before sending .started; a declined trigger gets no
// answer at all (it belongs to another service).
type Accepter interface {
	Accepts(t Trigger) bool
}

// Listener is a Task that reacts to an event other than its own .triggered,
// e.g. another service's .finished. It is answered with .finished only.
type Listener interface {
	// Subject is the event type the task handles.
	Subject() string
}

// Trigger is a received trigger event and what is known of it.
type Trigger struct {
	Event cloudevents.Event
	// Common is the common part of the trigger's data, read leniently: it
	// may be incomplete when the data is malformed.
	Common events.Common
	Log    *slog.Logger
	// changes collects the changes the task made, for CDEvents.
	changes *changeLog
	// holds are the releases the task takes while it runs (see
	// holdReleases); nil outside a dispatcher.
	holds *releaseHolds
}

// Superseding is implemented by tasks for which, when several triggers for
// one release queue up, only the newest matters (a deployment replaces the
// one before it). The older ones are answered without running.
type Superseding interface {
	Superseding() bool
}

// Dispatcher routes each delivery to its task, runs it in its release's
// queue, reports it on the bus as .started then .finished, and settles the
// delivery once .finished is out.
type Dispatcher struct {
	source  string
	pub     Publisher
	log     *slog.Logger
	tasks   map[string]Task // by trigger type
	opts    Options
	queue   *releaseQueue
	tracer  trace.Tracer
	answers *answer.Answerer
}

// NewDispatcher returns a dispatcher for the given tasks. Events whose
// CloudEvents source is source are ignored: they are helm-service's own.
func NewDispatcher(source string, pub Publisher, log *slog.Logger, tasks []Task, opts Options) *Dispatcher {
	if opts.MaxParallel <= 0 {
		opts.MaxParallel = 4
	}
	if opts.RetryBackoff <= 0 {
		opts.RetryBackoff = time.Second
	}
	if opts.TracerProvider == nil {
		opts.TracerProvider = noop.NewTracerProvider()
	}
	if opts.Observer == nil {
		opts.Observer = noObserver{}
	}
	d := &Dispatcher{
		source: source, pub: pub, log: log, tasks: make(map[string]Task, len(tasks)), opts: opts,
		queue:  newReleaseQueue(opts.MaxParallel),
		tracer: opts.TracerProvider.Tracer(tracing.Instrumentation),
	}
	d.answers = answer.New(answer.PublishFunc(d.publish), answer.Options{
		Ledger: opts.Ledger, Heartbeat: opts.Heartbeat, PublishTimeout: opts.PublishTimeout,
	})
	for _, t := range tasks {
		subject := events.Type(t.Name(), events.PhaseTriggered)
		if l, ok := t.(Listener); ok {
			subject = l.Subject()
		}
		d.tasks[subject] = t
	}
	return d
}

// Subjects returns the NATS subjects to subscribe to.
func (d *Dispatcher) Subjects() []string {
	subjects := make([]string, 0, len(d.tasks))
	for s := range d.tasks {
		subjects = append(subjects, s)
	}
	slices.Sort(subjects)
	return subjects
}

// StopAccepting makes tasks that have not started give up: their
// deliveries are handed back to the bus unanswered, for another replica or
// the next start. Running tasks go on.
func (d *Dispatcher) StopAccepting() { d.queue.stop() }

// Handle handles one delivery from the bus. It never panics.
func (d *Dispatcher) Handle(ctx context.Context, del eventbus.Delivery) {
	trigger, decodeErr := triggerOf(del)
	if trigger.Source() == d.source {
		d.log.Debug("ignoring own event", "type", trigger.Type(), "id", trigger.ID())
		answer.Ack(ctx, del, d.log)
		return
	}
	task, ok := d.tasks[del.Subject]
	if !ok {
		d.log.Warn("no task for subject", "subject", del.Subject)
		answer.Ack(ctx, del, d.log)
		return
	}
	t := d.triggerFor(del, trigger, task)
	if a, ok := task.(Accepter); ok && decodeErr == nil && !a.Accepts(t) {
		t.Log.Debug("trigger is not for helm-service: ignored")
		answer.Ack(ctx, del, t.Log)
		return
	}
	ctx, span := d.startTask(ctx, del.Subject, &t)
	defer span.End()
	ctx = tasklog.With(ctx, t.Log)

	// The release stays held until the delivery is settled, so that a newer
	// task for it never finishes before this one is acknowledged.
	done := func() {}
	defer func() { done() }()
	finishedType := events.Type(task.Name(), events.PhaseFinished)
	var finished events.Finished
	req := answer.Request{
		Key:     ledger.KeyOf(trigger),
		Log:     t.Log,
		Answers: func(e cloudevents.Event) bool { return answers(e, trigger, finishedType) },
		Finished: func(ctx context.Context) (cloudevents.Event, error) {
			var handBack bool
			var err error
			finished, done, handBack, err = d.run(ctx, del, task, t, decodeErr)
			if finished, err = d.outcome(task, t, finished, handBack, err); err != nil {
				return cloudevents.Event{}, err
			}
			return d.build(t, finishedType, finished)
		},
		Sent: func(ctx context.Context) { d.publishChanges(ctx, t, finished) },
	}
	// A listener answers an event that is not a trigger: no .started.
	if _, listens := task.(Listener); !listens {
		req.Started = func(context.Context) (cloudevents.Event, error) {
			return d.build(t, events.Type(task.Name(), events.PhaseStarted), &events.Common{Status: events.StatusSucceeded})
		}
	}
	d.answers.Once(ctx, del, req)
}

// outcome is the one place a task's result becomes its answer and the
// outcome told to the observer: a task handed back gets no answer (the
// error wraps answer.ErrHandBack), a task that failed, was superseded or
// could not run is answered errored with its error, and one that ran
// succeeded with its result (pass unless it set one).
func (d *Dispatcher) outcome(task Task, t Trigger, finished events.Finished, handBack bool, err error) (events.Finished, error) {
	var superseded *supersededError
	observed := outcomeErrored
	switch {
	case handBack:
		d.opts.Observer.TaskDone(task.Name(), outcomeHandedBack)
		t.Log.Info("task handed back unanswered", "reason", err)
		return nil, fmt.Errorf("%w: %w", answer.ErrHandBack, err)
	case errors.As(err, &superseded):
		observed = outcomeSuperseded
		fallthrough
	case err != nil:
		t.Log.Error("task failed", "error", err)
		finished = &events.Common{Status: events.StatusErrored, Result: events.ResultFail, Message: err.Error()}
	default:
		base := finished.Base()
		base.Status = events.StatusSucceeded
		if base.Result == "" {
			base.Result = events.ResultPass
		}
		observed = base.Result
		t.Log.Info("task finished", "result", base.Result, "message", base.Message)
	}
	d.opts.Observer.TaskDone(task.Name(), observed)
	return finished, nil
}

// run runs the task in the queue of each release it touches and returns
// done, which lets the next task of those releases go. handBack is true
// when the task did not run to an answer because helm-service is stopping:
// the delivery goes back to the bus unanswered.
func (d *Dispatcher) run(ctx context.Context, del eventbus.Delivery, task Task, t Trigger, decodeErr error) (finished events.Finished, done func(), handBack bool, err error) {
	done = func() {}
	if decodeErr != nil {
		return nil, done, false, decodeErr
	}
	if del.LastAttempt() && del.Attempt > 1 {
		return nil, done, false, fmt.Errorf("%s was delivered %d times without being answered (helm-service stopped or lost its connection during each attempt); giving up", t.Event.Type(), del.Attempt)
	}
	c := t.Common
	var keys []string
	if c.Project != "" && c.Stage != "" && c.Service != "" {
		namespace, err := targetNamespace(d.opts.NamespaceTemplate, c)
		if err != nil {
			return nil, done, false, err
		}
		if d.opts.AllowNamespace != nil {
			if err := d.opts.AllowNamespace(namespace); err != nil {
				return nil, done, false, err
			}
		}
		keys = releaseKeys(namespace, touchedReleases(task, t))
	}
	d.opts.Observer.TaskQueued()
	defer d.opts.Observer.TaskLeft()
	s, ok := task.(Superseding)
	superseding := ok && s.Superseding()
	release, by, err := d.queue.acquire(ctx, keys, task.Name(), t.Event.ID(), del.Seq, superseding)
	if err != nil {
		return nil, done, true, err
	}
	if by != nil {
		return nil, done, false, &supersededError{by: by.by, kind: task.Name(), releases: keys, ran: by.ran}
	}
	// Waits (for another replica's lease, before a retry) end when this
	// process stops taking work; the task itself runs under ctx.
	waitCtx, stopWaits := d.queue.waitContext(ctx)
	defer stopWaits()
	if len(keys) > 0 && d.opts.Leases != nil {
		held, err := d.acquireLeases(waitCtx, keys)
		if err != nil {
			release()
			return nil, done, true, err
		}
		unqueue := release
		release = func() { held.release(t.Log); unqueue() }
		// Holding the leases, no other helm-service works on the releases:
		// a pending record one left behind died with it and is recovered
		// at once. Should a lease be lost (NATS out of reach for longer
		// than LOCK_TTL), another replica may take the release: the task
		// stops and its trigger goes back to the bus.
		var stopTask context.CancelCauseFunc
		ctx, stopTask = context.WithCancelCause(helm.WithExclusive(ctx))
		defer stopTask(nil)
		held.stopOnLoss(ctx, stopTask)
	}
	holds := &releaseHolds{d: d, kind: task.Name(), id: t.Event.ID(), seq: del.Seq, waitCtx: waitCtx, log: t.Log}
	t.holds = holds
	unqueue := release
	release = func() { holds.release(); unqueue() }
	lastRunKey := strings.Join(keys, ",")
	if superseding && len(keys) > 0 && d.opts.Ledger != nil {
		switch last, found, err := d.opts.Ledger.LastRun(ctx, lastRunKey, task.Name()); {
		case err != nil:
			t.Log.Warn("cannot tell whether a newer trigger ran on the release; running this one", "error", err)
		case found && last.Seq > del.Seq:
			return nil, release, false, &supersededError{by: last.TriggerID, kind: task.Name(), releases: keys, ran: true}
		}
	}
	start := time.Now()
	finished, stopped, err := d.runRetrying(ctx, waitCtx, task, t)
	d.opts.Observer.TaskRan(task.Name(), time.Since(start))
	if ctx.Err() != nil || stopped || errors.Is(err, errStopping) {
		// Shutdown cancelled the task, or came while it waited to run
		// again or for a release it holds while it runs: whatever it did
		// is redone on the next delivery, which also recovers a release it
		// left pending.
		release()
		if stopped {
			return nil, done, true, errStopping
		}
		if ctx.Err() == nil {
			return nil, done, true, err
		}
		return nil, done, true, fmt.Errorf("cancelled by shutdown: %w", context.Cause(ctx))
	}
	if superseding && len(keys) > 0 && d.opts.Ledger != nil {
		if rerr := d.opts.Ledger.RecordRun(ctx, lastRunKey, task.Name(), ledger.Run{TriggerID: t.Event.ID(), Seq: del.Seq}); rerr != nil {
			t.Log.Warn("cannot record the trigger as the last one that ran on the release", "error", rerr)
		}
	}
	return finished, release, false, err
}

// runRetrying runs the task, and runs it again after a pause while it fails
// for a reason that passes: the Kubernetes API server is unreachable (for
// up to ClusterRetryTimeout), or the release is pending (for up to
// PendingRetryTimeout, pausing until a pending record is old enough to be
// recovered). stopped is true when waitCtx ended during a pause.
func (d *Dispatcher) runRetrying(ctx, waitCtx context.Context, task Task, t Trigger) (finished events.Finished, stopped bool, err error) {
	var unreachableSince, pendingSince time.Time
	pause, maxPause := d.opts.RetryBackoff, 16*d.opts.RetryBackoff
	for attempt := 1; ; attempt++ {
		finished, err = runSafely(ctx, task, t)
		if err == nil || ctx.Err() != nil {
			return finished, false, err
		}
		now := time.Now()
		wait := pause
		switch {
		case d.opts.ClusterRetryTimeout > 0 && kube.Unreachable(err) && !errors.Is(err, helm.ErrWaitTimeout):
			if unreachableSince.IsZero() {
				unreachableSince = now
			}
			if down := now.Sub(unreachableSince); down >= d.opts.ClusterRetryTimeout {
				return nil, false, fmt.Errorf("the Kubernetes API server was unreachable for %s, longer than helm-service waits for it (CLUSTER_RETRY_TIMEOUT %s); gave up after %d attempts, the last of which failed with: %w",
					down.Round(time.Second), d.opts.ClusterRetryTimeout, attempt, err)
			}
		case d.opts.PendingRetryTimeout > 0 && helm.Pending(err):
			if pendingSince.IsZero() {
				pendingSince = now
			}
			if waited := now.Sub(pendingSince); waited >= d.opts.PendingRetryTimeout {
				return nil, false, fmt.Errorf("the release stayed pending for the %s helm-service waited (PENDING_RETRY_TIMEOUT %s); gave up after %d attempts: %w",
					waited.Round(time.Second), d.opts.PendingRetryTimeout, attempt, err)
			}
			var pe *helm.PendingError
			if errors.As(err, &pe) {
				// Run again once the record is old enough to recover, or
				// sooner in case its operation ends.
				wait = min(pe.RecoverAfter+100*time.Millisecond, maxPause)
			}
		default:
			return finished, false, err
		}
		t.Log.Warn("task failed for a reason that passes; running it again", "error", err, "attempt", attempt, "in", wait.String())
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-waitCtx.Done():
			timer.Stop()
			return nil, true, err
		}
		pause = min(2*pause, maxPause)
	}
}

// settleTimeout bounds the wait for the server to confirm the release of
// a lease a task held.
const settleTimeout = 10 * time.Second

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
