package handler

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/helm-service/helm-service/pkg/events"
)

// TestAnswersFitTheBus runs the dispatcher on a real NATS server with its
// default settings (max_payload 1 MiB, the default MAX_EVENT_BYTES too;
// the rig's ack wait of 5 s bears on nothing here: the answer is sent
// within it). A trigger that fits, but whose labels are so large that an
// answer echoing them would not, still gets its .started and .finished:
// the labels are left out of them, and the answer says so.
func TestAnswersFitTheBus(t *testing.T) {
	r := newNATSRig(t)
	deployOnce(t, r.bus, tasksBucket(t, r.bus))

	// Labels that fill the trigger to 64 bytes short of the server's limit:
	// the answers echo them next to fields of their own.
	data := validTrigger()
	withNotes := func(n int) []byte {
		data["labels"] = map[string]string{"owner": "ops", "notes": strings.Repeat("x", n)}
		body, err := json.Marshal(triggerEvent(t, data))
		if err != nil {
			t.Fatal(err)
		}
		return body
	}
	body := withNotes(int(r.nc.MaxPayload()) - 64 - len(withNotes(0)))
	if int64(len(body)) > r.nc.MaxPayload() {
		t.Fatalf("the trigger is %d bytes, more than the server's %d: the test needs one that fits", len(body), r.nc.MaxPayload())
	}
	if err := r.nc.Publish("sh.keptn.event.deployment.triggered", body); err != nil {
		t.Fatal(err)
	}
	// Well under the answer's publish timeout (2m), which a publish that
	// can never succeed would wait out.
	deadline := time.Now().Add(20 * time.Second)
	for len(r.ofType("sh.keptn.event.deployment.finished")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no .finished within 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	startedEvents := r.ofType("sh.keptn.event.deployment.started")
	if n := len(startedEvents); n != 1 {
		t.Fatalf("%d .started, want 1", n)
	}
	var started, finished events.DeploymentFinished
	if err := json.Unmarshal(startedEvents[0].Data(), &started); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(r.ofType("sh.keptn.event.deployment.finished")[0].Data(), &finished); err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]events.DeploymentFinished{".started": started, ".finished": finished} {
		if got.Labels != nil {
			t.Errorf("%s has labels of %d keys, want them left out", name, len(got.Labels))
		}
		if !strings.Contains(got.Message, "labels left out") {
			t.Errorf("%s message %q, want it to say the labels were left out", name, got.Message)
		}
		if got.Status != events.StatusSucceeded {
			t.Errorf("%s status %q, want succeeded", name, got.Status)
		}
	}
	if finished.Result != events.ResultPass {
		t.Errorf(".finished result %q, want pass: the deployment succeeded", finished.Result)
	}
}

// TestFitCutsWhatTheBusCannotTake checks each step of fit on a bus that
// takes 4 KiB: an answer that fits is left as it is; labels go first; a
// message too long makes an errored answer that says why; an answer too
// large even without its data is an error.
func TestFitCutsWhatTheBusCannotTake(t *testing.T) {
	const limit = 4096
	d := NewDispatcher("helm-service", nil, quiet, nil, Options{MaxEventBytes: limit})
	trigger := func(context string) Trigger {
		e := triggerEvent(t, validTrigger())
		e.SetExtension(events.ExtContext, context)
		return Trigger{Event: *e, Common: events.Common{Project: "sockshop", Stage: "staging", Service: "carts"}}
	}
	size := func(e cloudevents.Event) int {
		body, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		return len(body)
	}
	build := func(tr Trigger, data events.Common) (cloudevents.Event, events.Common, error) {
		tr.Common.Labels = data.Labels
		e, err := d.build(tr, "sh.keptn.event.deployment.finished", &data)
		var got events.Common
		if err == nil {
			if n := size(e); n > limit {
				t.Errorf("answer is %d bytes, more than %d", n, limit)
			}
			if err := json.Unmarshal(e.Data(), &got); err != nil {
				t.Fatal(err)
			}
		}
		return e, got, err
	}

	_, got, err := build(trigger("ctx"), events.Common{Status: events.StatusSucceeded, Result: events.ResultPass, Message: "deployed", Labels: map[string]string{"owner": "ops"}})
	if err != nil || got.Message != "deployed" || got.Labels["owner"] != "ops" {
		t.Errorf("an answer that fits: %+v, %v; want it as it was", got, err)
	}

	_, got, err = build(trigger("ctx"), events.Common{Status: events.StatusSucceeded, Result: events.ResultPass, Message: "deployed", Labels: map[string]string{"notes": strings.Repeat("x", limit)}})
	if err != nil || got.Labels != nil || got.Status != events.StatusSucceeded || got.Result != events.ResultPass ||
		!strings.HasPrefix(got.Message, "deployed (labels left out: ") || !strings.Contains(got.Message, "4096 bytes") {
		t.Errorf("large labels: %+v, %v; want the result kept, the labels left out and the message saying so", got, err)
	}

	_, got, err = build(trigger("ctx"), events.Common{Status: events.StatusErrored, Result: events.ResultFail, Message: "render: " + strings.Repeat("é", limit)})
	if err != nil || got.Status != events.StatusErrored || got.Result != events.ResultFail || got.Project != "sockshop" || got.Service != "carts" ||
		!strings.Contains(got.Message, "more than the 4096 bytes the bus takes") || !strings.Contains(got.Message, "render: éé") || !utf8.ValidString(got.Message) {
		t.Errorf("a long message: %+v, %v; want an errored answer saying why, with the message's start", got, err)
	}

	_, got, err = build(trigger("ctx"), events.Common{Status: events.StatusSucceeded, Result: events.ResultPass, Message: strings.Repeat("m", limit)})
	if err != nil || got.Status != events.StatusErrored || got.Result != events.ResultFail {
		t.Errorf("a long message of a succeeded task: %+v, %v; want it errored: a .finished cut short would not say what happened", got, err)
	}

	if _, _, err = build(trigger(strings.Repeat("c", limit)), events.Common{Status: events.StatusSucceeded}); err == nil || !strings.Contains(err.Error(), "Keptn context") {
		t.Errorf("a Keptn context larger than the bus takes: %v, want an error naming it", err)
	}
}
