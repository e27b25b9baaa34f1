package handler

import (
	"encoding/json"
	"fmt"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/helm-service/helm-service/eventbus"
	"github.com/helm-service/helm-service/pkg/events"
)

// triggerOf returns the delivered event. For a delivery that is not a valid
// CloudEvent it salvages what it can (id, source, Keptn context, data) so
// that the sender still gets an errored .finished, and returns why it is
// not valid.
func triggerOf(del eventbus.Delivery) (cloudevents.Event, error) {
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

// triggerFor is the trigger of a delivery for task: the common part of its
// data read leniently (the task reports what is wrong) and a logger that
// names it.
func (d *Dispatcher) triggerFor(del eventbus.Delivery, trigger cloudevents.Event, task Task) Trigger {
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
	return Trigger{Event: trigger, Common: common, Log: log, changes: &changeLog{}}
}
