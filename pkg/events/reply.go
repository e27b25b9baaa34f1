package events

import (
	"fmt"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/uuid"
)

// NewReply builds an event answering trigger: a fresh id and time, the given
// source and type, the trigger's Keptn context and git commit, and
// triggeredid set to the trigger's id, as the Keptn contract asks.
func NewReply(trigger cloudevents.Event, source, eventType string, data any) (cloudevents.Event, error) {
	reply := cloudevents.NewEvent(cloudevents.VersionV1)
	reply.SetID(uuid.NewString())
	reply.SetTime(time.Now().UTC())
	reply.SetSource(source)
	reply.SetType(eventType)
	reply.SetExtension(ExtTriggeredID, trigger.ID())
	reply.SetExtension(ExtSpecVersion, SpecVersion)
	if v := StringExtension(trigger, ExtContext); v != "" {
		reply.SetExtension(ExtContext, v)
	}
	if v := StringExtension(trigger, ExtGitCommitID); v != "" {
		reply.SetExtension(ExtGitCommitID, v)
	}
	if err := reply.SetData(cloudevents.ApplicationJSON, data); err != nil {
		return cloudevents.Event{}, fmt.Errorf("encode data of %s: %w", eventType, err)
	}
	return reply, nil
}

// StringExtension returns a CloudEvent extension as a string, or "" when it
// is absent.
func StringExtension(e cloudevents.Event, name string) string {
	v, ok := e.Extensions()[name]
	if !ok {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}
