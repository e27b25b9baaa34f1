// Package handler turns Keptn triggers into work: one file per task kind,
// and a dispatcher that answers each trigger with .started and .finished.
package handler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.opentelemetry.io/otel/trace"

	"github.com/helm-service/helm-service/eventbus"
	"github.com/helm-service/helm-service/pkg/answer"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/lanes"
	"github.com/helm-service/helm-service/pkg/ledger"
	"github.com/helm-service/helm-service/pkg/tasklog"
	"github.com/helm-service/helm-service/pkg/timings"
	"github.com/helm-service/helm-service/pkg/tracing"
)

// Dispatcher routes each delivery to its task, runs it in its release's
// queue, reports it on the bus as .started then .finished, and settles the
// delivery once .finished is out.
type Dispatcher struct {
	source  string
	pub     Publisher
	log     *slog.Logger
	tasks   map[string]Task // by trigger type
	opts    Options
	lanes   *lanes.Lanes
	tracer  trace.Tracer
	answers *answer.Answerer
}

// NewDispatcher returns a dispatcher for the given tasks. Events whose
// CloudEvents source is source are ignored: they are helm-service's own.
func NewDispatcher(source string, pub Publisher, log *slog.Logger, tasks []Task, opts Options) *Dispatcher {
	opts = opts.withDefaults()
	d := &Dispatcher{
		source: source, pub: pub, log: log, tasks: make(map[string]Task, len(tasks)), opts: opts,
		lanes:  lanes.New(opts.MaxParallel, lanes.WithLeases(opts.Leases), lanes.WithRunLog(opts.Ledger), lanes.WithLogger(log)),
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
func (d *Dispatcher) StopAccepting() { d.lanes.Stop() }

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
	// Resolved before the span starts, which names the namespace; an error
	// is the task's answer (see run).
	var targetErr error
	t.Target, targetErr = d.resolveTarget(task, t)
	ctx, span := d.startTask(ctx, del.Subject, &t)
	defer span.End()
	ctx = tasklog.With(ctx, t.Log)
	spent := timings.New()
	ctx = timings.With(ctx, spent)

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
			var err error
			finished, done, err = d.run(ctx, del, task, t, decodeErr, targetErr)
			if finished, err = d.outcome(task, t, finished, err); err != nil {
				return cloudevents.Event{}, err
			}
			finished.Base().Timings = d.observePhases(task, spent)
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
func (d *Dispatcher) outcome(task Task, t Trigger, finished events.Finished, err error) (events.Finished, error) {
	var superseded *lanes.SupersededError
	var handBack *handBackError
	observed := outcomeErrored
	switch {
	case errors.As(err, &handBack):
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

// observePhases reports the time of each phase of the task to the
// observer and returns it for the task's .finished, in milliseconds. The
// .finished's own publish comes after: its publish phase is that of the
// .started.
func (d *Dispatcher) observePhases(task Task, spent *timings.Recorder) map[string]int64 {
	for phase, took := range spent.Durations() {
		d.opts.Observer.TaskPhase(task.Name(), string(phase), took)
	}
	return spent.Milliseconds()
}
