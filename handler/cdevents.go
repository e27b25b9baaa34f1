package handler

import (
	"context"
	"sync"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/helm-service/helm-service/pkg/cdevents"
	"github.com/helm-service/helm-service/pkg/events"
)

// CDEventsOptions make the dispatcher publish a CDEvent for each change a
// successful task made to a service.
type CDEventsOptions struct {
	// Source is the CDEvents' source.
	Source string
	// SubjectPrefix starts their NATS subjects (see cdevents.Subject).
	SubjectPrefix string
}

// SubjectPublisher publishes an event on a subject other than its type.
// *eventbus.Bus implements it; a Publisher that does not publishes
// CDEvents on their type.
type SubjectPublisher interface {
	PublishOn(ctx context.Context, subject string, e cloudevents.Event) error
}

// changeLog collects the changes a task made to services.
type changeLog struct {
	mu      sync.Mutex
	changes []cdevents.Change
}

// recordChange notes that the task changed a service; the dispatcher
// reports it once the task succeeded. images are what the service runs
// afterwards; the first one is the change's artifact.
func (t Trigger) recordChange(kind cdevents.Kind, namespace, service string, images []string) {
	if t.changes == nil {
		return
	}
	c := cdevents.Change{Kind: kind, Namespace: namespace, Service: service, Keptn: cdevents.Keptn{
		Context: events.StringExtension(t.Event, events.ExtContext), TriggeredID: t.Event.ID(),
		Project: t.Common.Project, Stage: t.Common.Stage, Service: t.Common.Service,
	}}
	if len(images) > 0 {
		c.Image = images[0]
	}
	t.changes.mu.Lock()
	t.changes.changes = append(t.changes.changes, c)
	t.changes.mu.Unlock()
}

// installedOrUpgraded is the change of a release now at revision.
func installedOrUpgraded(revision int) cdevents.Kind {
	if revision == 1 {
		return cdevents.Deployed
	}
	return cdevents.Upgraded
}

// publishChanges publishes the CDEvents of the changes of a task that
// succeeded. A change that cannot be told is logged and left out: the
// task's answer is already out.
func (d *Dispatcher) publishChanges(ctx context.Context, t Trigger, finished events.Finished) {
	opts := d.opts.CDEvents
	if opts == nil || t.changes == nil || finished == nil || finished.Base().Status != events.StatusSucceeded {
		return
	}
	t.changes.mu.Lock()
	changes := t.changes.changes
	t.changes.mu.Unlock()
	builder := cdevents.Builder{Source: opts.Source}
	for _, c := range changes {
		e, err := builder.Event(c)
		if err != nil {
			t.Log.Warn("cannot report the change as a CDEvent", "change", c.Kind, "namespace", c.Namespace, "error", err)
			continue
		}
		publish := d.pub.Publish
		if sp, ok := d.pub.(SubjectPublisher); ok {
			subject := cdevents.Subject(opts.SubjectPrefix, c.Kind)
			publish = func(ctx context.Context, e cloudevents.Event) error { return sp.PublishOn(ctx, subject, e) }
		}
		if err := d.tracedPublish(ctx, e, publish); err != nil {
			t.Log.Warn("cannot publish CDEvent", "type", e.Type(), "error", err)
		}
	}
}
