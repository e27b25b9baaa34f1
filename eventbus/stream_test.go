package eventbus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// keptnStream is the stream Keptn 1.x's shipyard-controller creates on
// the server it shares with its integrations: every Keptn subject, limits
// retention.
var keptnStream = jetstream.StreamConfig{Name: "keptn", Subjects: []string{"sh.keptn.>"}, Storage: jetstream.FileStorage}

func jetStreamOf(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func streamConfig(t *testing.T, js jetstream.JetStream, name string) jetstream.StreamConfig {
	t.Helper()
	s, err := js.Stream(context.Background(), name)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	return s.CachedInfo().Config
}

func subscribeTriggers(t *testing.T, b *Bus) <-chan Delivery {
	t.Helper()
	got := make(chan Delivery, 10)
	err := b.Subscribe(context.Background(), []string{triggered}, "helm-service", func(ctx context.Context, d Delivery) {
		if err := d.Ack(ctx); err != nil {
			t.Errorf("ack %s: %v", d.Event.ID(), err)
		}
		got <- d
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// Keptn's stream over sh.keptn.> is there first: helm-service consumes
// from it with a durable consumer of its own, gets the triggers published
// from then on (not the stream's history), publishes its answers into it,
// and leaves its configuration as it was, whatever NATS_STREAM says.
func TestConsumesFromKeptnsStreamAndLeavesItAlone(t *testing.T) {
	for _, name := range []string{"", "keptn"} {
		t.Run("NATS_STREAM="+name, func(t *testing.T) {
			url := startServer(t)
			js := jetStreamOf(t, url)
			if _, err := js.CreateStream(context.Background(), keptnStream); err != nil {
				t.Fatal(err)
			}
			// Through JetStream, so that the stream has stored it before
			// helm-service starts (a core publish may land after).
			if _, err := js.Publish(context.Background(), triggered, []byte(eventJSON("old"))); err != nil {
				t.Fatal(err)
			}
			before := streamConfig(t, js, "keptn")

			b := jetStreamBus(t, url, func(o *Options) { o.Stream = name })
			got := subscribeTriggers(t, b)
			publishCore(t, url, eventJSON("new"))
			if d := receive(t, got); d.Event.ID() != "new" {
				t.Fatalf("delivered %s first, want the trigger published after helm-service started", d.Event.ID())
			}
			expectNothing(t, got, 300*time.Millisecond)
			answer := testEvent("answer")
			answer.SetType("sh.keptn.event.deployment.finished")
			if err := b.Publish(context.Background(), answer); err != nil {
				t.Fatalf("publish into Keptn's stream: %v", err)
			}

			if after := streamConfig(t, js, "keptn"); !reflect.DeepEqual(after, before) {
				t.Errorf("Keptn's stream changed:\nbefore %+v\nafter  %+v", before, after)
			}
			if _, err := js.Stream(context.Background(), "KEPTN"); !errors.Is(err, jetstream.ErrStreamNotFound) {
				t.Errorf("helm-service made a stream of its own next to Keptn's: %v", err)
			}
			cons, err := js.Consumer(context.Background(), "keptn", "helm-service")
			if err != nil {
				t.Fatalf("helm-service's consumer on Keptn's stream: %v", err)
			}
			if f := cons.CachedInfo().Config.FilterSubjects; !reflect.DeepEqual(f, []string{triggered}) {
				t.Errorf("consumer filters %v, want only helm-service's trigger subjects", f)
			}
		})
	}
}

// A restarted helm-service goes on with the same consumer: a trigger
// published while it was away is delivered.
func TestKeptnsStreamKeepsTriggersWhileHelmServiceIsAway(t *testing.T) {
	url := startServer(t)
	js := jetStreamOf(t, url)
	if _, err := js.CreateStream(context.Background(), keptnStream); err != nil {
		t.Fatal(err)
	}
	first := jetStreamBus(t, url, nil)
	subscribeTriggers(t, first)
	if err := first.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	first.Close()
	publishCore(t, url, eventJSON("while-away"))
	got := subscribeTriggers(t, jetStreamBus(t, url, nil))
	if d := receive(t, got); d.Event.ID() != "while-away" {
		t.Fatalf("delivered %s, want the trigger published while helm-service was away", d.Event.ID())
	}
}

// A stream over part of the trigger subjects blocks a stream of
// helm-service's own and does not store every trigger: helm-service stops
// at start, naming it and the fix.
func TestStreamOverPartOfTheSubjectsIsRefused(t *testing.T) {
	url := startServer(t)
	js := jetStreamOf(t, url)
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "deployments", Subjects: []string{"sh.keptn.event.deployment.>"}}); err != nil {
		t.Fatal(err)
	}
	_, err := Connect(context.Background(), Options{URL: url, Mode: ModeJetStream, Log: quiet})
	if err == nil {
		t.Fatal("connected next to a stream that stores only some trigger subjects")
	}
	for _, want := range []string{"stream deployments", "sh.keptn.event.deployment.>", "add [sh.keptn.event.>] to the subjects of stream deployments"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// A work-queue stream whose other consumer takes the trigger subjects
// cannot serve helm-service too: it stops at start, naming the stream, the
// consumer and the fix.
func TestWorkQueueStreamWithAnotherConsumerIsRefused(t *testing.T) {
	url := startServer(t)
	js := jetStreamOf(t, url)
	ctx := context.Background()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "jobs", Subjects: []string{"sh.keptn.>"}, Retention: jetstream.WorkQueuePolicy})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "other", FilterSubject: "sh.keptn.event.*.triggered", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	b := jetStreamBus(t, url, nil)
	err = b.Subscribe(ctx, []string{triggered}, "helm-service", func(context.Context, Delivery) {})
	if err == nil {
		t.Fatal("subscribed on a work-queue stream another consumer already takes the triggers of")
	}
	for _, want := range []string{"stream jobs", "work-queue", "consumer other", "interest or limits retention"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// The stream an earlier helm-service made (before streams carried the
// owner's mark) is still helm-service's: it is brought to the settings.
func TestOwnStreamOfAnEarlierVersionIsUpdated(t *testing.T) {
	url := startServer(t)
	js := jetStreamOf(t, url)
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{
		Name: "KEPTN", Description: ownStreamDescription, Subjects: []string{"sh.keptn.event.>"},
		Retention: jetstream.InterestPolicy, MaxAge: time.Hour,
	}); err != nil {
		t.Fatal(err)
	}
	jetStreamBus(t, url, func(o *Options) { o.StreamMaxAge = 3 * time.Hour })
	cfg := streamConfig(t, js, "KEPTN")
	if cfg.MaxAge != 3*time.Hour || cfg.Metadata[metaCreatedBy] != metaOwner {
		t.Errorf("own stream: max age %s, metadata %v; want 3h and the owner's mark", cfg.MaxAge, cfg.Metadata)
	}
}

func TestSubjectCoversPatterns(t *testing.T) {
	for _, c := range []struct {
		wide, pattern string
		want          bool
	}{
		{"sh.keptn.>", "sh.keptn.event.>", true},
		{"sh.keptn.event.>", "sh.keptn.>", false},
		{"sh.keptn.>", "sh.keptn.>", true},
		{"sh.*.event.>", "sh.keptn.event.*", true},
		{"sh.keptn.event.*", "sh.keptn.event.>", false},
		{"sh.keptn.event.deployment.*", "sh.keptn.event.*.triggered", false},
		{">", "sh.keptn.event.*.triggered", true},
	} {
		if got := subjectCovers(c.wide, c.pattern); got != c.want {
			t.Errorf("subjectCovers(%q, %q) = %v, want %v", c.wide, c.pattern, got, c.want)
		}
	}
}

// natsCluster starts three JetStream servers with routes on loopback, in
// process, and returns them once JetStream has a leader.
func natsCluster(t *testing.T) []*server.Server {
	t.Helper()
	ports := make([]int, 3)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	var routes []*url.URL
	for _, p := range ports {
		routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	servers := make([]*server.Server, 3)
	for i := range servers {
		opts := &server.Options{
			ServerName: fmt.Sprintf("n%d", i), Host: "127.0.0.1", Port: -1,
			JetStream: true, StoreDir: t.TempDir(),
			Cluster: server.ClusterOpts{Name: "c", Host: "127.0.0.1", Port: ports[i]},
			Routes:  routes, NoLog: true, NoSigs: true,
		}
		s, err := server.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		go s.Start()
		t.Cleanup(s.Shutdown)
		servers[i] = s
	}
	for _, s := range servers {
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatal("NATS cluster server not ready")
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		nc, err := nats.Connect(servers[0].ClientURL())
		if err == nil {
			js, _ := jetstream.New(nc)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err = js.AccountInfo(ctx)
			cancel()
			nc.Close()
		}
		if err == nil {
			return servers
		}
		if time.Now().After(deadline) {
			t.Fatalf("JetStream cluster has no leader after 30s: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// On a cluster of three, the stream and both buckets keep three copies by
// default; a bucket an earlier version made with one copy is raised.
// Losing the server the bus is connected to ends nothing: the bus goes on
// on another server and a trigger published meanwhile is delivered.
func TestReplicatedStateOnACluster(t *testing.T) {
	servers := natsCluster(t)
	var urls []string
	for _, s := range servers {
		urls = append(urls, s.ClientURL())
	}
	js := jetStreamOf(t, urls[1])
	ctx := context.Background()
	if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "locks", Replicas: 1}); err != nil {
		t.Fatal(err)
	}

	b := jetStreamBus(t, strings.Join(urls, ","), nil)
	if cfg := streamConfig(t, js, "KEPTN"); cfg.Replicas != 3 {
		t.Errorf("stream replicas %d, want 3", cfg.Replicas)
	}
	for _, bucket := range []string{"tasks", "locks"} {
		kv, err := b.KeyValue(ctx, bucket, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		st, ok := bucketStatus(ctx, kv)
		if !ok {
			t.Fatalf("bucket %s: no status", bucket)
		}
		if r := st.StreamInfo().Config.Replicas; r != 3 {
			t.Errorf("bucket %s: replicas %d, want 3", bucket, r)
		}
	}
	got := subscribeTriggers(t, b)

	connected := b.conn.ConnectedUrl()
	for _, s := range servers {
		if s.ClientURL() == connected {
			s.Shutdown()
		}
	}
	var other string
	for _, u := range urls {
		if u != connected {
			other = u
		}
	}
	publishDeadline := time.Now().Add(20 * time.Second)
	for {
		// Published through JetStream so that the test knows the stream
		// stored it (its leader may be moving to another server).
		pubCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := jetStreamOf(t, other).Publish(pubCtx, triggered, []byte(eventJSON("during-failover")))
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(publishDeadline) {
			t.Fatalf("the stream took no message for 20s after a server was lost: %v", err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	select {
	case d := <-got:
		if d.Event.ID() != "during-failover" {
			t.Fatalf("delivered %s", d.Event.ID())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no delivery within 30s of losing the connected server")
	}
	if !b.Connected() {
		t.Error("the bus is not connected after the failover")
	}
}

// The stream helm-service creates is bounded: full, it refuses new
// messages instead of dropping stored ones, and it stores any message the
// server takes.
func TestOwnStreamIsBounded(t *testing.T) {
	url := startServer(t)
	b := jetStreamBus(t, url, func(o *Options) { o.StreamMaxBytes = 8 << 20 })
	cfg := streamConfig(t, jetStreamOf(t, url), "KEPTN")
	if cfg.MaxBytes != 8<<20 || cfg.Discard != jetstream.DiscardNew || int64(cfg.MaxMsgSize) != b.conn.MaxPayload() {
		t.Errorf("stream limits: max bytes %d, discard %v, max message %d; want 8 MiB, new, the server's %d", cfg.MaxBytes, cfg.Discard, cfg.MaxMsgSize, b.conn.MaxPayload())
	}
}
