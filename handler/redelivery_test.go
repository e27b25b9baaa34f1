package handler

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/golang/mock/gomock"
	"github.com/nats-io/nats.go"

	"github.com/helm-service/helm-service/eventbus"
	"github.com/helm-service/helm-service/handler/mocks"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/ledger"
)

// TestRedeliveredTriggerIsAnsweredFromTheLedger runs the dispatcher on a
// real NATS server in JetStream mode. The same trigger (same id) arrives
// twice: it is deployed once, and the second time the recorded .finished
// is sent again, unchanged.
func TestRedeliveredTriggerIsAnsweredFromTheLedger(t *testing.T) {
	ns, err := eventbus.StartEmbedded(eventbus.EmbeddedOptions{Listen: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	ctx := context.Background()
	bus, err := eventbus.Connect(ctx, eventbus.Options{URL: ns.ClientURL(), Mode: eventbus.ModeJetStream, AckWait: 5 * time.Second, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)
	kv, err := bus.KeyValue(ctx, "tasks", time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	ctrl := gomock.NewController(t)
	src, nss, rels := mocks.NewMockChartSource(ctrl), mocks.NewMockNamespaces(ctrl), mocks.NewMockReleases(ctrl)
	src.EXPECT().Load(gomock.Any(), gomock.Any()).Return(testChart(), nil).Times(1)
	nss.EXPECT().Ensure(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil).Times(1)
	rels.EXPECT().Get(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil, helm.ErrNotFound).AnyTimes() // nothing deployed yet
	rels.EXPECT().Upgrade(gomock.Any(), gomock.Any()).Return(&helm.Result{Namespace: "sockshop-staging", Name: "carts", Revision: 1}, nil).Times(1)
	d := NewDispatcher("helm-service", bus, quiet, []Task{NewDeployment(src, nss, rels, mocks.NewMockRouter(ctrl), mocks.NewMockScaler(ctrl), settings)}, Options{Ledger: ledger.New(kv)})
	if err := bus.Subscribe(ctx, d.Subjects(), "helm-service", d.Handle); err != nil {
		t.Fatal(err)
	}

	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var mu sync.Mutex
	var answers []cloudevents.Event
	for _, subject := range []string{"sh.keptn.event.deployment.started", "sh.keptn.event.deployment.finished"} {
		if _, err := nc.Subscribe(subject, func(m *nats.Msg) {
			var e cloudevents.Event
			if json.Unmarshal(m.Data, &e) == nil {
				mu.Lock()
				answers = append(answers, e)
				mu.Unlock()
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	body, err := json.Marshal(triggerEvent(t, validTrigger()))
	if err != nil {
		t.Fatal(err)
	}
	count := func(typ string) (n int, ids []string) {
		mu.Lock()
		defer mu.Unlock()
		for _, a := range answers {
			if a.Type() == typ {
				n++
				ids = append(ids, a.ID())
			}
		}
		return n, ids
	}
	for round := 1; round <= 2; round++ {
		if err := nc.Publish("sh.keptn.event.deployment.triggered", body); err != nil {
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
	entry, found, err := ledger.New(kv).Lookup(ctx, ledger.KeyOf(*triggerEvent(t, validTrigger())))
	if err != nil || !found || entry.State != ledger.StateFinished || entry.Finished.ID() != ids[0] {
		t.Errorf("ledger entry = %+v, %v, %v", entry, found, err)
	}
	var data events.DeploymentFinished
	_ = json.Unmarshal(entry.Finished.Data(), &data)
	if data.Status != events.StatusSucceeded {
		t.Errorf("recorded .finished = %+v", data.Common)
	}
}
