package handler

import (
	"encoding/json"
	"strings"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/helm-service/helm-service/pkg/events"
)

// eventOf builds an event of any type from the control plane.
func eventOf(t *testing.T, eventType string, data any) *cloudevents.Event {
	t.Helper()
	e := triggerEvent(t, data)
	e.SetType(eventType)
	return e
}

func scalingEvent(t *testing.T, value any) *cloudevents.Event {
	action := map[string]any{"name": "scale up", "action": "scaling"}
	if value != nil {
		action["value"] = value
	}
	return eventOf(t, "sh.keptn.event.action.triggered", map[string]any{
		"project": "sockshop", "stage": "staging", "service": "carts", "action": action,
	})
}

// actionAnswer returns the .finished of an action after checking that
// .started came first.
func actionAnswer(t *testing.T, r *recorder) events.ActionFinished {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.events) != 2 || r.events[0].Type() != "sh.keptn.event.action.started" || r.events[1].Type() != "sh.keptn.event.action.finished" {
		t.Fatalf("published %d events, want action .started and .finished", len(r.events))
	}
	var data events.ActionFinished
	if err := json.Unmarshal(r.events[1].Data(), &data); err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseIncrement(t *testing.T) {
	good := map[string]int32{`1`: 1, `"1"`: 1, `"+2"`: 2, `"-1"`: -1, `-3`: -3, `0`: 0, `" 4 "`: 4}
	for raw, want := range good {
		got, err := parseIncrement(json.RawMessage(raw))
		if err != nil || got != want {
			t.Errorf("parseIncrement(%s) = %d, %v; want %d", raw, got, err, want)
		}
	}
	bad := map[string]string{
		``: "action.value is missing", `null`: "action.value is missing",
		`"abc"`: `action.value "abc" is not a replica increment`, `1.5`: "action.value 1.5 is not",
		`"1.5"`: `action.value "1.5" is not`, `true`: "action.value true is not", `{"n":1}`: `action.value {"n":1} is not`,
		`[1]`: "action.value [1] is not", `""`: `action.value "" is not`, `99999999999`: "action.value 99999999999 is out of range",
	}
	for raw, want := range bad {
		if _, err := parseIncrement(json.RawMessage(raw)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseIncrement(%s) error = %v, want %q", raw, err, want)
		}
	}
}

func TestOtherActionsAreNotAnswered(t *testing.T) {
	for _, data := range []any{
		map[string]any{"project": "sockshop", "stage": "staging", "service": "carts", "action": map[string]any{"action": "toggle-feature", "value": "on"}},
		map[string]any{"project": "sockshop", "stage": "staging", "service": "carts"},
		`{"action": "scaling"}`,
	} {
		f := newTaskFixture(t, taskOptions{})
		f.cluster.deploy(directCarts1)
		before := f.cluster.state()
		f.deliver(eventOf(t, "sh.keptn.event.action.triggered", data))
		if n := len(f.published.events); n != 0 {
			t.Errorf("%v: published %d events, want none", data, n)
		}
		if diff := cmp.Diff(before, f.cluster.state()); diff != "" {
			t.Errorf("%v: cluster afterwards (-want +got):\n%s", data, diff)
		}
	}
}

// deleteAnswer returns the one event published for a service removal.
func deleteAnswer(t *testing.T, r *recorder) (cloudevents.Event, events.ServiceDeleteFinished) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.events) != 1 || r.events[0].Type() != "sh.keptn.event.service.delete.finished" {
		t.Fatalf("published %d events, want one service.delete.finished", len(r.events))
	}
	var data events.ServiceDeleteFinished
	if err := json.Unmarshal(r.events[0].Data(), &data); err != nil {
		t.Fatal(err)
	}
	return r.events[0], data
}

func deleteEvent(t *testing.T) *cloudevents.Event {
	return eventOf(t, "sh.keptn.event.service.delete.finished", map[string]any{"project": "sockshop", "service": "carts", "status": "succeeded"})
}
