package eventbus

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/helm-service/helm-service/pkg/metrics"
)

func TestBusReportsEventsRedeliveriesAndConnectionToMetrics(t *testing.T) {
	ns, err := StartEmbedded(EmbeddedOptions{Listen: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	m := metrics.New()
	b := jetStreamBus(t, ns.ClientURL(), func(o *Options) { o.AckWait = time.Second; o.Observer = m })
	got := make(chan Delivery, 10)
	if err := b.Subscribe(context.Background(), []string{triggered}, "helm-service", func(_ context.Context, d Delivery) { got <- d }); err != nil {
		t.Fatal(err)
	}
	publishCore(t, ns.ClientURL(), eventJSON("once"), eventJSON("twice"))
	for range 2 {
		if d := receive(t, got); d.Event.ID() == "once" {
			if err := d.Ack(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	again := receive(t, got) // "twice" was not settled: delivered again after the ack wait
	if err := again.Ack(context.Background()); err != nil {
		t.Fatal(err)
	}

	want := `
# HELP helm_service_events_received_total Events received from NATS, by event type (the subject).
# TYPE helm_service_events_received_total counter
helm_service_events_received_total{type="sh.keptn.event.deployment.triggered"} 3
# HELP helm_service_events_redelivered_total Events JetStream delivered more than once, by event type.
# TYPE helm_service_events_redelivered_total counter
helm_service_events_redelivered_total{type="sh.keptn.event.deployment.triggered"} 1
# HELP helm_service_nats_connected 1 while connected to NATS, 0 otherwise.
# TYPE helm_service_nats_connected gauge
helm_service_nats_connected 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"helm_service_events_received_total", "helm_service_events_redelivered_total", "helm_service_nats_connected"); err != nil {
		t.Error(err)
	}

	ns.Shutdown()
	ns.WaitForShutdown()
	disconnected := `
# HELP helm_service_nats_connected 1 while connected to NATS, 0 otherwise.
# TYPE helm_service_nats_connected gauge
helm_service_nats_connected 0
`
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(disconnected), "helm_service_nats_connected")
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("10s after the server stopped: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
