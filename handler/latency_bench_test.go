package handler

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/nats-io/nats.go"

	"github.com/helm-service/helm-service/eventbus"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/ledger"
)

// heldTask is a deployment task that holds every run until released, so
// that a whole burst of triggers is in flight at once.
type heldTask struct{ release chan struct{} }

func (heldTask) Name() string { return events.TaskDeployment }

func (h heldTask) Run(ctx context.Context, _ Trigger) (events.Finished, error) {
	select {
	case <-h.release:
	case <-ctx.Done():
	}
	return &events.Common{}, nil
}

// BenchmarkTriggerToStarted measures the time from publishing a trigger to
// receiving its .started, with a burst of 100 triggers for 100 releases in
// flight, on a real NATS server in JetStream mode with the ledger on: the
// path every trigger takes before any Helm work. It reports the p50 and
// p99 over all triggers of all rounds.
func BenchmarkTriggerToStarted(b *testing.B) {
	const burst = 100
	ns, err := eventbus.StartEmbedded(eventbus.EmbeddedOptions{Listen: "127.0.0.1:0", DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(ns.Shutdown)
	ctx := context.Background()
	bus, err := eventbus.Connect(ctx, eventbus.Options{URL: ns.ClientURL(), Mode: eventbus.ModeJetStream, AckWait: time.Minute, Log: quiet})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(bus.Close)
	kv, err := bus.KeyValue(ctx, "tasks", time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	task := heldTask{release: make(chan struct{})}
	d := NewDispatcher("helm-service", bus, quiet, []Task{task}, Options{Ledger: ledger.New(kv), MaxParallel: 10})
	if err := bus.Subscribe(ctx, d.Subjects(), "helm-service", d.Handle); err != nil {
		b.Fatal(err)
	}

	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	var mu sync.Mutex
	arrived := map[string]time.Time{} // by triggeredid
	var finished int
	roundDone := make(chan struct{}, 1)
	for _, phase := range []string{events.PhaseStarted, events.PhaseFinished} {
		if _, err := nc.Subscribe(events.Type(events.TaskDeployment, phase), func(m *nats.Msg) {
			now := time.Now()
			var e cloudevents.Event
			if json.Unmarshal(m.Data, &e) != nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if phase == events.PhaseStarted {
				arrived[events.StringExtension(e, events.ExtTriggeredID)] = now
				return
			}
			if finished++; finished%burst == 0 {
				roundDone <- struct{}{}
			}
		}); err != nil {
			b.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		b.Fatal(err)
	}

	var latencies []time.Duration
	round := 0
	for b.Loop() {
		round++
		sent := make(map[string]time.Time, burst)
		for i := range burst {
			e := triggerEvent(b, map[string]any{"project": "bench", "stage": "s", "service": fmt.Sprintf("svc-%03d", i)})
			e.SetID(fmt.Sprintf("r%d-t%d", round, i))
			body, err := json.Marshal(e)
			if err != nil {
				b.Fatal(err)
			}
			sent[e.ID()] = time.Now()
			if err := nc.Publish(e.Type(), body); err != nil {
				b.Fatal(err)
			}
		}
		if err := nc.Flush(); err != nil {
			b.Fatal(err)
		}
		// Every trigger is started before any is let go.
		deadline := time.Now().Add(30 * time.Second)
		for {
			mu.Lock()
			n := 0
			for id := range sent {
				if _, ok := arrived[id]; ok {
					n++
				}
			}
			mu.Unlock()
			if n == burst {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("round %d: %d of %d triggers got .started within 30s", round, n, burst)
			}
			time.Sleep(time.Millisecond)
		}
		mu.Lock()
		for id, t0 := range sent {
			latencies = append(latencies, arrived[id].Sub(t0))
		}
		mu.Unlock()
		for range burst {
			task.release <- struct{}{}
		}
		select {
		case <-roundDone:
		case <-time.After(30 * time.Second):
			b.Fatalf("round %d: not every trigger finished within 30s", round)
		}
	}
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}
