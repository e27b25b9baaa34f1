package handler

import (
	"context"
	"fmt"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/timings"
)

// build makes an answer to the trigger, with the trigger's target.
func (d *Dispatcher) build(t Trigger, eventType string, data events.Finished) (cloudevents.Event, error) {
	base := data.Base()
	base.Project, base.Stage, base.Service, base.Labels = t.Common.Project, t.Common.Stage, t.Common.Service, t.Common.Labels
	e, err := events.NewReply(t.Event, d.source, eventType, data)
	if err != nil {
		return e, fmt.Errorf("build %s: %w", eventType, err)
	}
	return d.fit(eventType, e, data)
}

// answers tells whether e is an answer of type finishedType to the
// trigger.
func answers(e, trigger cloudevents.Event, finishedType string) bool {
	return e.Type() == finishedType && events.StringExtension(e, events.ExtTriggeredID) == trigger.ID()
}

// publish publishes an answer in a span of the task's (see tracedPublish).
// The answerer bounds it by PublishTimeout.
func (d *Dispatcher) publish(ctx context.Context, e cloudevents.Event) error {
	defer timings.Time(ctx, timings.Publish)()
	return d.tracedPublish(ctx, e, d.pub.Publish)
}
