package eventbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/nats-io/nats.go"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// startServer starts a real NATS server in process on a free port.
func startServer(t *testing.T) string {
	t.Helper()
	ns, err := StartEmbedded(EmbeddedOptions{Listen: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	return ns.ClientURL()
}

func connect(t *testing.T, url string, parallel int) *Bus {
	t.Helper()
	return connectWith(t, Options{URL: url, Mode: ModeCore, MaxInFlight: parallel})
}

func connectWith(t *testing.T, opts Options) *Bus {
	t.Helper()
	opts.Log = quiet
	b, err := Connect(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func testEvent(id string) cloudevents.Event {
	e := cloudevents.NewEvent()
	e.SetID(id)
	e.SetSource("test")
	e.SetType("sh.keptn.event.deployment.triggered")
	e.SetExtension("shkeptncontext", "ctx")
	_ = e.SetData(cloudevents.ApplicationJSON, map[string]string{"project": "p"})
	return e
}

func TestPublishSubscribeRoundTrip(t *testing.T) {
	url := startServer(t)
	b := connect(t, url, 4)
	got := make(chan Delivery, 1)
	if err := b.Subscribe(context.Background(), []string{"sh.keptn.event.deployment.triggered"}, "q", func(_ context.Context, d Delivery) { got <- d }); err != nil {
		t.Fatal(err)
	}
	sent := testEvent("e-1")
	if err := b.Publish(context.Background(), sent); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-got:
		if d.DecodeErr != nil {
			t.Fatalf("decode: %v", d.DecodeErr)
		}
		if d.Subject != sent.Type() || d.Event.ID() != "e-1" || d.Event.Extensions()["shkeptncontext"] != "ctx" || string(d.Event.Data()) != `{"project":"p"}` {
			t.Errorf("received %s on %s", d.Event, d.Subject)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("event not delivered")
	}
}

func TestMalformedMessagesAreDeliveredWithTheReason(t *testing.T) {
	url := startServer(t)
	b := connect(t, url, 4)
	got := make(chan Delivery, 2)
	if err := b.Subscribe(context.Background(), []string{"sh.keptn.event.deployment.triggered"}, "q", func(_ context.Context, d Delivery) { got <- d }); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for _, body := range []string{"not json", `{"specversion":"1.0","id":"x","type":"t"}`} {
		if err := nc.Publish("sh.keptn.event.deployment.triggered", []byte(body)); err != nil {
			t.Fatal(err)
		}
		select {
		case d := <-got:
			if d.DecodeErr == nil || d.Event != nil || string(d.Raw) != body {
				t.Errorf("body %q: delivery %+v, want a decode error and the raw bytes", body, d)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("malformed message %q not delivered", body)
		}
	}
}

func TestQueueGroupDeliversEachEventOnce(t *testing.T) {
	url := startServer(t)
	var count atomic.Int32
	var wg sync.WaitGroup
	const n = 50
	wg.Add(n)
	handle := func(context.Context, Delivery) { count.Add(1); wg.Done() }
	for range 2 {
		if err := connect(t, url, 2).Subscribe(context.Background(), []string{"sh.keptn.event.deployment.triggered"}, "helm-service", handle); err != nil {
			t.Fatal(err)
		}
	}
	pub := connect(t, url, 1)
	for i := range n {
		if err := pub.Publish(context.Background(), testEvent(string(rune('a'+i)))); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%d of %d events handled", count.Load(), n)
	}
	time.Sleep(100 * time.Millisecond) // a duplicate would arrive now
	if c := count.Load(); c != n {
		t.Errorf("handled %d times, want %d (once each)", c, n)
	}
}

func TestDrainWaitsForRunningHandlers(t *testing.T) {
	url := startServer(t)
	b := connect(t, url, 2)
	release := make(chan struct{})
	var finished atomic.Bool
	started := make(chan struct{})
	err := b.Subscribe(context.Background(), []string{"sh.keptn.event.deployment.triggered"}, "q", func(context.Context, Delivery) {
		close(started)
		<-release
		finished.Store(true)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(context.Background(), testEvent("slow")); err != nil {
		t.Fatal(err)
	}
	<-started

	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := b.Drain(short); err == nil {
		t.Fatal("Drain returned nil while a handler was still running past the deadline")
	}
	close(release)
	if err := b.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !finished.Load() {
		t.Error("Drain returned before the handler finished")
	}
	// After Drain no new deliveries arrive, but publishing still works.
	if err := b.Publish(context.Background(), testEvent("after")); err != nil {
		t.Errorf("publish after drain: %v", err)
	}
}

func TestSubjectMatches(t *testing.T) {
	for _, c := range []struct {
		filter, subject string
		want            bool
	}{
		{"sh.keptn.event.>", "sh.keptn.event.deployment.finished", true},
		{"sh.keptn.event.>", "sh.keptn.event", false},
		{"sh.keptn.event.>", "dev.cdevents.service.deployed", false},
		{"sh.keptn.*.deployment", "sh.keptn.event.deployment", true},
		{"sh.keptn.*.deployment", "sh.keptn.event.deployment.finished", false},
		{"a.b", "a.b", true},
		{"a.b", "a.b.c", false},
	} {
		if got := subjectCovers(c.filter, c.subject); got != c.want {
			t.Errorf("subjectCovers(%q, %q) = %v, want %v", c.filter, c.subject, got, c.want)
		}
	}
}

// sizedEvent is an event whose structured JSON encoding is size bytes.
func sizedEvent(t *testing.T, id string, size int) cloudevents.Event {
	t.Helper()
	e := testEvent(id)
	pad := func(n int) int {
		_ = e.SetData(cloudevents.ApplicationJSON, map[string]string{"project": "p", "pad": strings.Repeat("x", n)})
		body, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		return len(body)
	}
	if got := pad(size - pad(0)); got != size {
		t.Fatalf("event is %d bytes, want %d", got, size)
	}
	return e
}

// TestPublishFitsTheServersLimit publishes at the limit MaxEventBytes
// gives, in both modes, and one byte over the server's: the first is
// stored or delivered (JetStream's message id header included), the
// second fails at once, saying why, instead of being retried until the
// publish times out.
func TestPublishFitsTheServersLimit(t *testing.T) {
	url := startServer(t)
	for _, mode := range []Mode{ModeCore, ModeJetStream} {
		t.Run(string(mode), func(t *testing.T) {
			b := connectWith(t, Options{URL: url, Mode: mode})
			payload := int(b.conn.MaxPayload())
			if got, want := b.MaxEventBytes(), payload-HeaderAllowance; got != want {
				t.Errorf("MaxEventBytes() = %d, want the server's %d less %d", got, payload, HeaderAllowance)
			}
			if err := b.Publish(context.Background(), sizedEvent(t, "fits-"+string(mode), b.MaxEventBytes())); err != nil {
				t.Errorf("publish of %d bytes: %v", b.MaxEventBytes(), err)
			}
			start := time.Now()
			err := b.Publish(context.Background(), sizedEvent(t, "over-"+string(mode), payload+1))
			if !errors.Is(err, ErrEventTooLarge) {
				t.Fatalf("publish of %d bytes: %v, want ErrEventTooLarge", payload+1, err)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("refused after %s, want at once", took)
			}
			for _, want := range []string{fmt.Sprint(payload + 1), fmt.Sprint(payload), "max_payload"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
		})
	}
}
