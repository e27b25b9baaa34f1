// Package handler turns Keptn triggers into work: one file per task kind,
// and a dispatcher that answers each trigger with .started and .finished.
package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/helm-service/helm-service/eventbus"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
	"github.com/helm-service/helm-service/pkg/lanes"
	"github.com/helm-service/helm-service/pkg/lease"
	"github.com/helm-service/helm-service/pkg/ledger"
	"github.com/helm-service/helm-service/pkg/retry"
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
	// Target is what the trigger is for, resolved once by the dispatcher.
	Target Target
	// pass is the task's turn on its releases (see holdReleases); nil
	// outside a dispatcher.
	pass *lanes.Pass
}

// Superseding is implemented by tasks for which, when several triggers for
// one release queue up, only the newest matters (a deployment replaces the
// one before it). The older ones are answered without running.
type Superseding interface {
	Superseding() bool
}

// Ledger records answered triggers so that a redelivered trigger is not
// worked on twice. A trigger is its source, id and type (ledger.KeyOf).
// *ledger.Ledger implements it.
type Ledger interface {
	// Begin records the trigger as started unless it has an entry, which
	// it returns instead (found true).
	Begin(ctx context.Context, trigger ledger.Key) (entry ledger.Entry, found bool, err error)
	// Forget removes the trigger's entry.
	Forget(ctx context.Context, trigger ledger.Key) error
	Finished(ctx context.Context, trigger ledger.Key, finished cloudevents.Event) error
	// LastRun and RecordRun keep the newest trigger of a kind that ran on
	// a release, so that a replica refuses an older one that reaches it
	// after a newer one ran elsewhere.
	LastRun(ctx context.Context, release, kind string) (ledger.Run, bool, error)
	RecordRun(ctx context.Context, release, kind string, run ledger.Run) error
}

// Leases hold a release (namespace/name) against the other replicas on the
// bus while a task works on it. *lease.Manager implements it.
type Leases interface {
	// Acquire waits until the lease of name is held, or ctx ends.
	Acquire(ctx context.Context, name string) (*lease.Lease, error)
}

// Options tune the dispatcher; the zero value works.
type Options struct {
	// MaxParallel bounds the tasks running at once (default 4).
	MaxParallel int
	// Ledger, when set, makes redeliveries idempotent.
	Ledger Ledger
	// Heartbeat is how often a running or queued task tells the bus it is
	// still in progress (default 10s): well under the bus's ack wait.
	Heartbeat time.Duration
	// PublishTimeout bounds the retries of one publish (default 2m).
	PublishTimeout time.Duration
	// AllowNamespace says why a namespace may not be deployed to, or nil.
	AllowNamespace func(namespace string) error
	// Leases, when set, make tasks for one release wait for a task of
	// another replica on the same release. Without, tasks for one release
	// run one after the other in this process only.
	Leases Leases
	// ClusterRetryTimeout is how long a task that fails because the
	// Kubernetes API server is unreachable is run again, with backoff,
	// before it is answered errored; 0 answers at once.
	ClusterRetryTimeout time.Duration
	// PendingRetryTimeout is how long a task that finds its release
	// pending (another operation may still be working on it) is run again
	// before it is answered errored; 0 answers at once.
	PendingRetryTimeout time.Duration
	// RetryBackoff is the first pause before a task is run again (default
	// 1s); it doubles up to 16 times that.
	RetryBackoff time.Duration
	// CDEvents, when set, publishes a CDEvent for each change a task made
	// to a service (see cdevents.go).
	CDEvents *CDEventsOptions
	// TracerProvider traces each task (see tracing.go); nil traces
	// nothing.
	TracerProvider trace.TracerProvider
	// NamespaceTemplate computes the namespace of a trigger's service for
	// the allow-list and the release queue; nil means <project>-<stage>.
	// The tasks must use the same template.
	NamespaceTemplate *kube.NamespaceTemplate
	// Observer, when set, is told about tasks (for metrics).
	Observer Observer
}

// Dispatcher routes each delivery to its task, runs it in its release's
// queue, reports it on the bus as .started then .finished, and settles the
// delivery once .finished is out.
type Dispatcher struct {
	source string
	pub    Publisher
	log    *slog.Logger
	tasks  map[string]Task // by trigger type
	opts   Options
	lanes  *lanes.Lanes
	tracer trace.Tracer

	mu      sync.Mutex
	running map[ledger.Key]*inflight
}

// inflight is a trigger this process is working on.
type inflight struct {
	done     chan struct{}
	answered bool // set before done is closed
}

// NewDispatcher returns a dispatcher for the given tasks. Events whose
// CloudEvents source is source are ignored: they are helm-service's own.
func NewDispatcher(source string, pub Publisher, log *slog.Logger, tasks ...Task) *Dispatcher {
	d := &Dispatcher{source: source, pub: pub, log: log, tasks: make(map[string]Task, len(tasks))}
	for _, t := range tasks {
		subject := events.Type(t.Name(), events.PhaseTriggered)
		if l, ok := t.(Listener); ok {
			subject = l.Subject()
		}
		d.tasks[subject] = t
	}
	return d.With(Options{})
}

// With sets the options and returns d.
func (d *Dispatcher) With(opts Options) *Dispatcher {
	if opts.MaxParallel <= 0 {
		opts.MaxParallel = 4
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 10 * time.Second
	}
	if opts.PublishTimeout <= 0 {
		opts.PublishTimeout = 2 * time.Minute
	}
	if opts.RetryBackoff <= 0 {
		opts.RetryBackoff = time.Second
	}
	if opts.TracerProvider == nil {
		opts.TracerProvider = noop.NewTracerProvider()
	}
	d.tracer = opts.TracerProvider.Tracer(tracing.Instrumentation)
	if opts.Observer == nil {
		opts.Observer = noObserver{}
	}
	d.opts = opts
	d.lanes = lanes.New(opts.MaxParallel, lanes.WithLeases(opts.Leases), lanes.WithRunLog(opts.Ledger), lanes.WithLogger(d.log))
	d.running = map[ledger.Key]*inflight{}
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
	trigger, decodeErr := d.triggerOf(del)
	if trigger.Source() == d.source {
		d.log.Debug("ignoring own event", "type", trigger.Type(), "id", trigger.ID())
		d.ack(ctx, del, d.log)
		return
	}
	task, ok := d.tasks[del.Subject]
	if !ok {
		d.log.Warn("no task for subject", "subject", del.Subject)
		d.ack(ctx, del, d.log)
		return
	}
	var common events.Common
	_ = json.Unmarshal(trigger.Data(), &common) // best effort: the task reports what is wrong
	log := d.log.With(
		events.ExtContext, events.StringExtension(trigger, events.ExtContext),
		events.ExtTriggeredID, trigger.ID(),
		"task", task.Name(),
		"project", common.Project, "stage", common.Stage, "service", common.Service,
	)
	if del.Attempt > 1 {
		log = log.With("attempt", del.Attempt)
	}
	t := Trigger{Event: trigger, Common: common, Log: log, changes: &changeLog{}}
	if a, ok := task.(Accepter); ok && decodeErr == nil && !a.Accepts(t) {
		log.Debug("trigger is not for helm-service: ignored")
		d.ack(ctx, del, log)
		return
	}
	// Resolved before the span starts, which names the namespace; an error
	// is the task's answer (see run).
	var targetErr error
	t.Target, targetErr = d.resolveTarget(task, t)
	ctx, span := d.startTask(ctx, del.Subject, &t)
	defer span.End()
	log = t.Log
	ctx = tasklog.With(ctx, log)

	stopBeat := d.heartbeat(del, log)
	defer stopBeat()

	// The server delivers a trigger again when it lost track of it (after
	// a NATS restart, say) while this process still works on it: that
	// delivery waits for the first and is settled like it.
	// Once the first is answered, this one is answered from the ledger.
	// A trigger is its source, id and type: Keptn reuses one id for events
	// of several types, and two sources may pick the same id.
	key := ledger.KeyOf(trigger)
	own, prev := d.claim(key)
	for prev != nil {
		log.Info("trigger delivered again while it is being handled here; waiting for the first delivery")
		select {
		case <-prev.done:
		case <-ctx.Done():
		}
		if !prev.answered {
			d.nak(del, log)
			return
		}
		if d.opts.Ledger == nil {
			d.ack(ctx, del, log) // nothing to answer from
			return
		}
		own, prev = d.claim(key)
	}
	defer d.unclaim(key, own)

	// A listener answers an event that is not a trigger: no .started.
	_, started := task.(Listener)
	finishedType := events.Type(task.Name(), events.PhaseFinished)
	if d.opts.Ledger != nil && trigger.ID() != "" {
		// One round trip on the way to .started: it records the start and
		// tells whether the trigger was seen before.
		entry, found, err := d.opts.Ledger.Begin(ctx, key)
		switch {
		case err != nil:
			log.Warn("cannot tell whether the trigger was answered before; handling it", "error", err)
		case found && entry.State == ledger.StateFinished && entry.Finished != nil && !answers(*entry.Finished, trigger, finishedType):
			// Only an answer to this very trigger is sent again.
			log.Warn("the ledger's answer for this trigger is not an answer to it; handling the trigger as new",
				"answerType", entry.Finished.Type(), "answerTriggeredID", events.StringExtension(*entry.Finished, events.ExtTriggeredID))
		case found && entry.State == ledger.StateFinished && entry.Finished != nil:
			log.Info("trigger was answered before; sending the same .finished again")
			if err := d.publish(ctx, *entry.Finished); err != nil {
				log.Error("cannot publish reply", "type", entry.Finished.Type(), "error", err)
				d.nak(del, log)
				return
			}
			own.answered = true
			d.ack(ctx, del, log)
			return
		case found:
			started = true
			log.Info("trigger was started before and cut off; running it again")
		}
	}
	if !started {
		if _, err := d.reply(ctx, t, events.Type(task.Name(), events.PhaseStarted), &events.Common{Status: events.StatusSucceeded}); err != nil {
			log.Error("cannot publish reply", "type", events.PhaseStarted, "error", err)
			// The next delivery is then handled as new and sends .started.
			if d.opts.Ledger != nil && trigger.ID() != "" {
				if err := d.opts.Ledger.Forget(ctx, key); err != nil {
					log.Warn("cannot undo the record of the start", "error", err)
				}
			}
			d.nak(del, log)
			return
		}
	}

	finished, done, err := d.run(ctx, del, task, t, decodeErr, targetErr)
	// The release stays held until the delivery is settled, so that a newer
	// task for it never finishes before this one is acknowledged.
	defer done()
	if handBack := (*handBackError)(nil); errors.As(err, &handBack) {
		d.opts.Observer.TaskDone(task.Name(), outcomeHandedBack)
		log.Info("task handed back unanswered", "reason", err)
		d.nak(del, log)
		return
	}
	if err != nil {
		finished = &events.Common{Status: events.StatusErrored, Result: events.ResultFail, Message: err.Error()}
		log.Error("task failed", "error", err)
	} else {
		base := finished.Base()
		base.Status = events.StatusSucceeded
		if base.Result == "" {
			base.Result = events.ResultPass
		}
		log.Info("task finished", "result", base.Result, "message", base.Message)
	}
	d.opts.Observer.TaskDone(task.Name(), outcomeOf(finished, err))
	reply, err := d.build(t, finishedType, finished)
	if err != nil {
		log.Error("cannot build reply", "type", events.PhaseFinished, "error", err)
		own.answered = true
		d.ack(ctx, del, log)
		return
	}
	// Recorded before it is sent: a redelivery after a crash in between
	// sends this answer instead of running the task again.
	if d.opts.Ledger != nil && trigger.ID() != "" {
		if err := d.opts.Ledger.Finished(ctx, key, reply); err != nil {
			log.Warn("cannot record the answer; a redelivery would run the task again", "error", err)
		}
	}
	if err := d.publish(ctx, reply); err != nil {
		log.Error("cannot publish reply", "type", events.PhaseFinished, "error", err)
		d.nak(del, log)
		return
	}
	d.publishChanges(ctx, t, finished)
	own.answered = true
	d.ack(ctx, del, log)
}

// claim registers the trigger as handled here. When it already is, it
// returns the first delivery's record instead.
func (d *Dispatcher) claim(key ledger.Key) (own, prev *inflight) {
	own = &inflight{done: make(chan struct{})}
	if key.ID == "" {
		return own, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if p, ok := d.running[key]; ok {
		return nil, p
	}
	d.running[key] = own
	return own, nil
}

func (d *Dispatcher) unclaim(key ledger.Key, own *inflight) {
	if key.ID != "" {
		d.mu.Lock()
		delete(d.running, key)
		d.mu.Unlock()
	}
	close(own.done)
}

// answers tells whether e is an answer of type finishedType to the
// trigger.
func answers(e, trigger cloudevents.Event, finishedType string) bool {
	return e.Type() == finishedType && events.StringExtension(e, events.ExtTriggeredID) == trigger.ID()
}

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
	pass, err := d.lanes.Enter(ctx, lanes.Ticket{Releases: t.Target.Releases, Kind: task.Name(), ID: t.Event.ID(), Seq: del.Seq, Superseding: ok && s.Superseding(), Log: t.Log})
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

// heartbeat tells the bus, until stopped, that the delivery is still being
// worked on.
func (d *Dispatcher) heartbeat(del eventbus.Delivery, log *slog.Logger) (stop func()) {
	if !del.Settled() {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(d.opts.Heartbeat)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if err := del.InProgress(); err != nil {
					log.Debug("cannot signal progress", "error", err)
				}
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// settleTimeout bounds the wait for the server to confirm an ack.
const settleTimeout = 10 * time.Second

func (d *Dispatcher) ack(ctx context.Context, del eventbus.Delivery, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	if err := del.Ack(ctx); err != nil {
		log.Warn("cannot acknowledge the trigger; it may be delivered again and will be answered from the ledger", "error", err)
	}
}

func (d *Dispatcher) nak(del eventbus.Delivery, log *slog.Logger) {
	if err := del.Nak(0); err != nil {
		log.Warn("cannot hand the trigger back; it is delivered again after the ack wait", "error", err)
	}
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

// reply publishes an answer to the trigger and returns it.
func (d *Dispatcher) reply(ctx context.Context, t Trigger, eventType string, data events.Finished) (cloudevents.Event, error) {
	e, err := d.build(t, eventType, data)
	if err != nil {
		return e, err
	}
	return e, d.publish(ctx, e)
}

// build makes an answer to the trigger, with the trigger's target.
func (d *Dispatcher) build(t Trigger, eventType string, data events.Finished) (cloudevents.Event, error) {
	base := data.Base()
	base.Project, base.Stage, base.Service, base.Labels = t.Common.Project, t.Common.Stage, t.Common.Service, t.Common.Labels
	e, err := events.NewReply(t.Event, d.source, eventType, data)
	if err != nil {
		return e, fmt.Errorf("build %s: %w", eventType, err)
	}
	return e, nil
}

// publish publishes e, retrying for up to PublishTimeout, even after ctx
// is cancelled: an answer that is due is worth the wait.
func (d *Dispatcher) publish(ctx context.Context, e cloudevents.Event) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.opts.PublishTimeout)
	defer cancel()
	return d.tracedPublish(ctx, e, d.pub.Publish)
}

// triggerOf returns the delivered event. For a delivery that is not a valid
// CloudEvent it salvages what it can (id, source, Keptn context, data) so
// that the sender still gets an errored .finished, and returns why it is
// not valid.
func (d *Dispatcher) triggerOf(del eventbus.Delivery) (cloudevents.Event, error) {
	if del.DecodeErr == nil && del.Event != nil {
		return *del.Event, nil
	}
	e := cloudevents.NewEvent()
	e.SetType(del.Subject)
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(del.Raw, &raw); err != nil {
		return e, fmt.Errorf("event on %s is not a JSON CloudEvent: %w", del.Subject, err)
	}
	str := func(k string) string {
		var s string
		_ = json.Unmarshal(raw[k], &s)
		return s
	}
	e.SetID(str("id"))
	e.SetSource(str("source"))
	for _, ext := range []string{events.ExtContext, events.ExtGitCommitID} {
		if v := str(ext); v != "" {
			e.SetExtension(ext, v)
		}
	}
	if data, ok := raw["data"]; ok {
		_ = e.SetData(cloudevents.ApplicationJSON, data)
	}
	return e, fmt.Errorf("event on %s is not a valid CloudEvent: %w", del.Subject, del.DecodeErr)
}
