// Package handler turns Keptn triggers into work: one file per task kind,
// and a dispatcher that answers each trigger with .started and .finished.
package handler

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/helm-service/helm-service/eventbus"
	"github.com/helm-service/helm-service/pkg/events"
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
}

// publishTimeout bounds one publish of .started or .finished.
const publishTimeout = 10 * time.Second

// Dispatcher routes each delivery to its task and reports the task on the
// bus as .started then .finished.
type Dispatcher struct {
	source string
	pub    Publisher
	log    *slog.Logger
	tasks  map[string]Task // by trigger type
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
	return d
}

// Subjects returns the NATS subjects to subscribe to.
func (d *Dispatcher) Subjects() []string {
	subjects := make([]string, 0, len(d.tasks))
	for s := range d.tasks {
		subjects = append(subjects, s)
	}
	return subjects
}

// Handle handles one delivery from the bus. It never panics.
func (d *Dispatcher) Handle(ctx context.Context, del eventbus.Delivery) {
	trigger, decodeErr := d.triggerOf(del)
	if trigger.Source() == d.source {
		d.log.Debug("ignoring own event", "type", trigger.Type(), "id", trigger.ID())
		return
	}
	task, ok := d.tasks[del.Subject]
	if !ok {
		d.log.Warn("no task for subject", "subject", del.Subject)
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
	t := Trigger{Event: trigger, Common: common, Log: log}
	if a, ok := task.(Accepter); ok && decodeErr == nil && !a.Accepts(t) {
		log.Debug("trigger is not for helm-service: ignored")
		return
	}

	if _, ok := task.(Listener); !ok {
		started := &events.Common{Status: events.StatusSucceeded}
		d.reply(ctx, t, events.Type(task.Name(), events.PhaseStarted), started)
	}

	var finished events.Finished
	var err error
	if decodeErr != nil {
		err = decodeErr
	} else {
		finished, err = runSafely(ctx, task, t)
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
	d.reply(ctx, t, events.Type(task.Name(), events.PhaseFinished), finished)
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

// reply publishes an answer to the trigger, with the trigger's target.
func (d *Dispatcher) reply(ctx context.Context, t Trigger, eventType string, data events.Finished) {
	base := data.Base()
	base.Project, base.Stage, base.Service, base.Labels = t.Common.Project, t.Common.Stage, t.Common.Service, t.Common.Labels
	e, err := events.NewReply(t.Event, d.source, eventType, data)
	if err != nil {
		t.Log.Error("cannot build reply", "type", eventType, "error", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishTimeout)
	defer cancel()
	if err := d.pub.Publish(ctx, e); err != nil {
		t.Log.Error("cannot publish reply", "type", eventType, "error", err)
	}
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
