package eventbus

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

const triggered = "sh.keptn.event.deployment.triggered"

func jetStreamBus(t *testing.T, url string, mutate func(*Options)) *Bus {
	t.Helper()
	opts := Options{URL: url, Mode: ModeJetStream, MaxInFlight: 100, AckWait: 2 * time.Second, MaxDeliver: 3}
	if mutate != nil {
		mutate(&opts)
	}
	return connectWith(t, opts)
}

// publishCore publishes like Keptn's distributor did: plain core NATS.
func publishCore(t *testing.T, url string, bodies ...string) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for _, b := range bodies {
		if err := nc.Publish(triggered, []byte(b)); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

func eventJSON(id string) string {
	return fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"test","type":%q,"datacontenttype":"application/json","data":{"project":"p"}}`, id, triggered)
}

func receive(t *testing.T, ch <-chan Delivery) Delivery {
	t.Helper()
	select {
	case d := <-ch:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("nothing delivered within 10s")
	}
	return Delivery{}
}

func expectNothing(t *testing.T, ch <-chan Delivery, wait time.Duration) {
	t.Helper()
	select {
	case d := <-ch:
		t.Fatalf("unexpected delivery %s attempt %d", d.Event.ID(), d.Attempt)
	case <-time.After(wait):
	}
}

func TestJetStreamCapturesCorePublishesAndAckEndsThem(t *testing.T) {
	url := startServer(t)
	b := jetStreamBus(t, url, nil)
	got := make(chan Delivery, 10)
	if err := b.Subscribe(context.Background(), []string{triggered}, "helm-service", func(_ context.Context, d Delivery) { got <- d }); err != nil {
		t.Fatal(err)
	}
	publishCore(t, url, eventJSON("a"), eventJSON("b"))
	first, second := receive(t, got), receive(t, got)
	if first.Seq > second.Seq { // handlers run concurrently; Seq keeps the order
		first, second = second, first
	}
	if first.Event.ID() != "a" || second.Event.ID() != "b" || first.Seq >= second.Seq {
		t.Fatalf("got %s (seq %d), %s (seq %d); want a then b in stream order", first.Event.ID(), first.Seq, second.Event.ID(), second.Seq)
	}
	if !first.Settled() || first.Attempt != 1 || first.MaxAttempts != 3 || first.LastAttempt() {
		t.Errorf("delivery = %+v", first)
	}
	for _, d := range []Delivery{first, second} {
		if err := d.Ack(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	expectNothing(t, got, 3*time.Second) // past AckWait: acked messages do not come back
}

func TestJetStreamRedeliversWhatIsNotAcked(t *testing.T) {
	url := startServer(t)
	b := jetStreamBus(t, url, func(o *Options) { o.AckWait = time.Second })
	got := make(chan Delivery, 10)
	if err := b.Subscribe(context.Background(), []string{triggered}, "helm-service", func(_ context.Context, d Delivery) { got <- d }); err != nil {
		t.Fatal(err)
	}
	publishCore(t, url, eventJSON("lost"))
	d := receive(t, got) // never settled: as if the process died
	again := receive(t, got)
	if again.Event.ID() != "lost" || again.Attempt != 2 || again.Seq != d.Seq {
		t.Fatalf("redelivery = %s attempt %d seq %d", again.Event.ID(), again.Attempt, again.Seq)
	}
	if err := again.Nak(0); err != nil {
		t.Fatal(err)
	}
	last := receive(t, got)
	if last.Attempt != 3 || !last.LastAttempt() {
		t.Fatalf("third delivery attempt %d, LastAttempt %v", last.Attempt, last.LastAttempt())
	}
	if err := last.Ack(context.Background()); err != nil {
		t.Fatal(err)
	}
	expectNothing(t, got, 2*time.Second)
}

func TestJetStreamInProgressKeepsATaskAlive(t *testing.T) {
	url := startServer(t)
	b := jetStreamBus(t, url, func(o *Options) { o.AckWait = time.Second })
	got := make(chan Delivery, 10)
	if err := b.Subscribe(context.Background(), []string{triggered}, "helm-service", func(_ context.Context, d Delivery) { got <- d }); err != nil {
		t.Fatal(err)
	}
	publishCore(t, url, eventJSON("slow"))
	d := receive(t, got)
	for range 10 { // 3s of work, three times the ack wait
		time.Sleep(300 * time.Millisecond)
		if err := d.InProgress(); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Ack(context.Background()); err != nil {
		t.Fatal(err)
	}
	expectNothing(t, got, 1500*time.Millisecond)
}

func TestJetStreamReplicasShareOneDurableConsumer(t *testing.T) {
	url := startServer(t)
	var count atomic.Int32
	seen := sync.Map{}
	const n = 50
	var wg sync.WaitGroup
	wg.Add(n)
	for range 2 {
		b := jetStreamBus(t, url, nil)
		err := b.Subscribe(context.Background(), []string{triggered}, "helm-service", func(ctx context.Context, d Delivery) {
			if _, dup := seen.LoadOrStore(d.Event.ID(), true); dup {
				t.Errorf("%s delivered twice", d.Event.ID())
			}
			count.Add(1)
			_ = d.Ack(ctx)
			wg.Done()
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	bodies := make([]string, n)
	for i := range bodies {
		bodies[i] = eventJSON(fmt.Sprint("e-", i))
	}
	publishCore(t, url, bodies...)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%d of %d handled", count.Load(), n)
	}
}

func TestOversizedEventIsRefusedWithTheReason(t *testing.T) {
	url := startServer(t)
	b := jetStreamBus(t, url, func(o *Options) { o.MaxEventBytes = 1024 })
	got := make(chan Delivery, 1)
	if err := b.Subscribe(context.Background(), []string{triggered}, "helm-service", func(_ context.Context, d Delivery) { got <- d }); err != nil {
		t.Fatal(err)
	}
	big := strings.Replace(eventJSON("big"), `"p"`, `"`+strings.Repeat("x", 2000)+`"`, 1)
	publishCore(t, url, big)
	d := receive(t, got)
	if d.Event != nil || d.DecodeErr == nil || !strings.Contains(d.DecodeErr.Error(), "MAX_EVENT_BYTES") || string(d.Raw) != big {
		t.Fatalf("delivery = event %v, error %v", d.Event, d.DecodeErr)
	}
}

// TestPublishRetriesWhileTheServerIsDown stops the server, publishes, and
// starts the server again on the same port and data: the publish gets
// through and the subscription works again without resubscribing.
func TestPublishRetriesWhileTheServerIsDown(t *testing.T) {
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	start := func() func() {
		ns, err := StartEmbedded(EmbeddedOptions{Listen: addr, DataDir: filepath.Join(dir, "nats")})
		if err != nil {
			t.Fatal(err)
		}
		return func() { ns.Shutdown(); ns.WaitForShutdown() }
	}
	stop := start()
	url := "nats://" + addr
	b := jetStreamBus(t, url, nil)
	got := make(chan Delivery, 10)
	if err := b.Subscribe(context.Background(), []string{triggered}, "helm-service", func(ctx context.Context, d Delivery) { _ = d.Ack(ctx); got <- d }); err != nil {
		t.Fatal(err)
	}
	stop()

	published := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		published <- b.Publish(ctx, testEvent("while-down"))
	}()
	time.Sleep(1500 * time.Millisecond)
	select {
	case err := <-published:
		t.Fatalf("publish returned %v while the server was down", err)
	default:
	}
	stop = start()
	defer stop()
	if err := <-published; err != nil {
		t.Fatalf("publish after the server came back: %v", err)
	}
	if d := receive(t, got); d.Event.ID() != "while-down" {
		t.Fatalf("received %s", d.Event.ID())
	}
}
