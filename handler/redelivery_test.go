package handler

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/ledger"
)

// TestRedeliveredTriggerIsAnsweredFromTheLedger runs the dispatcher on a
// real NATS server in JetStream mode. The same trigger (same id) arrives
// twice: it is deployed once, and the second time the recorded .finished
// is sent again, unchanged.
func TestRedeliveredTriggerIsAnsweredFromTheLedger(t *testing.T) {
	r := newNATSRig(t)
	kv := tasksBucket(t, r.bus)
	deployOnce(t, r.bus, kv)
	body, err := json.Marshal(triggerEvent(t, validTrigger()))
	if err != nil {
		t.Fatal(err)
	}
	count := func(typ string) (n int, ids []string) {
		for _, a := range r.ofType(typ) {
			ids = append(ids, a.ID())
		}
		return len(ids), ids
	}
	for round := 1; round <= 2; round++ {
		if err := r.nc.Publish("sh.keptn.event.deployment.triggered", body); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the trigger is answered", func() bool {
			n, _ := count("sh.keptn.event.deployment.finished")
			return n == round
		})
	}
	n, ids := count("sh.keptn.event.deployment.finished")
	if n != 2 || ids[0] != ids[1] {
		t.Errorf(".finished ids %v, want the same .finished twice", ids)
	}
	if started, _ := count("sh.keptn.event.deployment.started"); started != 1 {
		t.Errorf("%d .started, want 1", started)
	}
	entry, found, err := ledger.New(kv).Lookup(context.Background(), ledger.KeyOf(*triggerEvent(t, validTrigger())))
	if err != nil || !found || entry.State != ledger.StateFinished || entry.Finished.ID() != ids[0] {
		t.Errorf("ledger entry = %+v, %v, %v", entry, found, err)
	}
	var data events.DeploymentFinished
	_ = json.Unmarshal(entry.Finished.Data(), &data)
	if data.Status != events.StatusSucceeded {
		t.Errorf("recorded .finished = %+v", data.Common)
	}
}
