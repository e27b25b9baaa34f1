package handler

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/helm-service/helm-service/pkg/events"
)

// fit returns the answer e (of type eventType, with data) as it is when
// the bus takes it, else made to fit Options.MaxEventBytes: an answer
// larger than the NATS server's max_payload can never be published, and
// retrying it would leave the trigger unanswered. In order:
//   - the trigger's labels, which answers echo and which may be nearly as
//     large as the trigger itself, are left out, and the message says so;
//   - if it is still too large (a long message), the data is cut to an
//     errored result whose message says why.
//
// What cannot be cut (the trigger's id and Keptn context, echoed as
// extensions) makes an error: such an answer could not be delivered.
func (d *Dispatcher) fit(eventType string, e cloudevents.Event, data events.Finished) (cloudevents.Event, error) {
	limit := d.opts.MaxEventBytes
	size, err := encodedSize(e)
	if err != nil || size <= limit {
		return e, err
	}
	base := data.Base()
	if len(base.Labels) > 0 {
		base.Labels = nil
		note := fmt.Sprintf("labels left out: with the trigger's labels this event would be %d bytes, more than the %d bytes the bus takes", size, limit)
		if base.Message == "" {
			base.Message = note
		} else {
			base.Message += " (" + note + ")"
		}
		if e, size, err = d.rebuild(e, eventType, data); err != nil || size <= limit {
			return e, err
		}
	}
	cut := &events.Common{
		Project: base.Project, Stage: base.Stage, Service: base.Service,
		Status: events.StatusErrored, Result: events.ResultFail,
		Message: fmt.Sprintf("this %s would be %d bytes, more than the %d bytes the bus takes (MAX_EVENT_BYTES or the NATS server's max_payload); its data was left out. %s", eventType, size, limit, excerpt(base.Message, 1024)),
	}
	if e, size, err = d.rebuild(e, eventType, cut); err != nil || size <= limit {
		return e, err
	}
	return cloudevents.Event{}, fmt.Errorf("build %s: %d bytes even without its data, more than the %d bytes the bus takes: the trigger's id or Keptn context is too long to answer", eventType, size, limit)
}

// rebuild sets data as e's and returns e with its encoded size.
func (d *Dispatcher) rebuild(e cloudevents.Event, eventType string, data any) (cloudevents.Event, int, error) {
	if err := e.SetData(cloudevents.ApplicationJSON, data); err != nil {
		return e, 0, fmt.Errorf("encode data of %s: %w", eventType, err)
	}
	size, err := encodedSize(e)
	return e, size, err
}

// encodedSize is the size of e as the bus sends it: structured JSON.
func encodedSize(e cloudevents.Event) (int, error) {
	body, err := json.Marshal(e)
	if err != nil {
		return 0, fmt.Errorf("encode %s: %w", e.Type(), err)
	}
	return len(body), nil
}

// excerpt is s, cut to at most n bytes (at a rune boundary) with "…" when cut.
func excerpt(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
