package handler

import (
	"context"
	"log/slog"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/lanes"
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

// DryRunTeller is a Task whose triggers may ask for a dry run. A dry run
// writes nothing: it waits its turn in the lanes of its releases like any
// trigger, but as a kind of its own it neither supersedes a trigger of the
// task nor is superseded by one.
type DryRunTeller interface {
	DryRun(t Trigger) bool
}

// ReleaseToucher is a Task that names the Helm releases a trigger's work
// touches, in the trigger's namespace. The dispatcher queues the task, and
// takes the leases, of each of them: tasks that share a release run one
// after the other, whichever service they are for. A task that does not
// say touches every release its service can have (deployed.ReleaseNames).
type ReleaseToucher interface {
	TouchedReleases(t Trigger) []string
}

// StrategyTeller is a Task that reads the deployment strategy from its
// trigger.
type StrategyTeller interface {
	TriggerStrategy(t Trigger) events.Strategy
}
