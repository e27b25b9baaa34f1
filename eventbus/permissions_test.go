package eventbus

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/helm-service/helm-service/pkg/lease"
	"github.com/helm-service/helm-service/pkg/ledger"
)

// The bucket names the documented permissions name; they are
// LEDGER_BUCKET's and LOCK_BUCKET's defaults.
const (
	ledgerBucket = "helm-service-tasks"
	leaseBucket  = "helm-service-locks"
)

// permissionsSnippet is the nats-server configuration that docs/delivery.md
// gives operators: the code block after its nats-permissions marker.
func permissionsSnippet(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "docs", "delivery.md"))
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)<!-- nats-permissions:[^>]*-->\n```\n(.*?)```\n").FindSubmatch(doc)
	if block == nil {
		t.Fatal("docs/delivery.md has no code block after its <!-- nats-permissions: ... --> marker")
	}
	return string(block[1])
}

// TestPermissionsSnippetNamesDefaultBuckets keeps the documented
// permissions on the bucket names helm-service uses by default.
func TestPermissionsSnippetNamesDefaultBuckets(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "pkg", "config", "delivery.go"))
	if err != nil {
		t.Fatal(err)
	}
	snippet := permissionsSnippet(t)
	for setting, bucket := range map[string]string{"LEDGER_BUCKET": ledgerBucket, "LOCK_BUCKET": leaseBucket} {
		if !strings.Contains(string(src), `envconfig:"`+setting+`" default:"`+bucket+`"`) {
			t.Errorf("%s's default is not %q any more: change the documented permissions and this test", setting, bucket)
		}
		if !strings.Contains(snippet, `"$KV.`+bucket+`.>"`) {
			t.Errorf("the documented permissions do not name bucket %s", bucket)
		}
	}
}

// refusedPublish finds the subject in the server's refusal of a publish.
var refusedPublish = regexp.MustCompile(`(?i)permissions violation for publish to "([^"]*)"`)

const (
	helmServicePassword = "helm-s3cret"
	producerPassword    = "keptn-s3cret"
)

// startDocumentedServer starts a real nats-server with JetStream in
// process, its users and permissions exactly as docs/delivery.md gives
// them.
func startDocumentedServer(t *testing.T) string {
	t.Helper()
	t.Setenv("HELM_SERVICE_NATS_PASSWORD", helmServicePassword)
	t.Setenv("KEPTN_NATS_PASSWORD", producerPassword)
	conf := "listen: 127.0.0.1:-1\njetstream { store_dir: " + `"` + t.TempDir() + `"` + " }\n" + permissionsSnippet(t)
	path := writeFile(t, "nats-server.conf", []byte(conf))
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("the documented configuration does not load: %v", err)
	}
	opts.NoSigs, opts.NoLog = true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server did not start")
	}
	t.Cleanup(ns.Shutdown)
	return ns.ClientURL()
}

// bucketContents is every key of bucket with its value.
func bucketContents(t *testing.T, kv jetstream.KeyValue) map[string]string {
	t.Helper()
	ctx := context.Background()
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	contents := map[string]string{}
	for key := range keys.Keys() {
		entry, err := kv.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		contents[key] = string(entry.Value())
	}
	return contents
}

// jetStreamState is what the producer must not change: the streams with
// their consumers, and the contents of both buckets.
type jetStreamState struct {
	Consumers map[string][]string
	Ledger    map[string]string
	Leases    map[string]string
}

func readState(t *testing.T, js jetstream.JetStream, tasks, locks jetstream.KeyValue) jetStreamState {
	t.Helper()
	ctx := context.Background()
	state := jetStreamState{Consumers: map[string][]string{}, Ledger: bucketContents(t, tasks), Leases: bucketContents(t, locks)}
	streams := js.StreamNames(ctx)
	for name := range streams.Name() {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		consumers := []string{}
		names := s.ConsumerNames(ctx)
		for c := range names.Name() {
			consumers = append(consumers, c)
		}
		if err := names.Err(); err != nil {
			t.Fatal(err)
		}
		sort.Strings(consumers)
		state.Consumers[name] = consumers
	}
	if err := streams.Err(); err != nil {
		t.Fatal(err)
	}
	return state
}

// TestDocumentedPermissionsCloseTheBus runs helm-service's bus, ledger and
// leases as helm-service's user on a server configured as the docs say,
// and checks that a producer can send it a trigger but can touch neither
// its buckets nor its stream and consumer.
func TestDocumentedPermissionsCloseTheBus(t *testing.T) {
	url := startDocumentedServer(t)
	ctx := context.Background()

	// helm-service's user: the stream, its durable consumer, the ledger
	// and the leases, as serve wires them.
	b := connectWith(t, Options{URL: url, Mode: ModeJetStream, Auth: Auth{User: "helm-service", Password: helmServicePassword}, AckWait: 2 * time.Second, MaxDeliver: 3})
	tasks, err := b.KeyValue(ctx, ledgerBucket, time.Hour)
	if err != nil {
		t.Fatalf("helm-service's user opens the ledger: %v", err)
	}
	locks, err := b.LeaseBucket(ctx, leaseBucket, time.Minute)
	if err != nil {
		t.Fatalf("helm-service's user opens the lease bucket: %v", err)
	}
	got := make(chan Delivery, 1)
	if err := b.Subscribe(ctx, []string{triggered}, "helm-service", func(_ context.Context, d Delivery) { got <- d }); err != nil {
		t.Fatalf("helm-service's user consumes the stream: %v", err)
	}
	answers := ledger.New(tasks)
	leases := lease.New(locks, "replica-1", time.Minute, quiet)

	// A producer publishes a trigger on core NATS, as Keptn does.
	producer := Auth{User: "keptn", Password: producerPassword}
	pb := connectWith(t, Options{URL: url, Mode: ModeCore, Auth: producer})
	if err := pb.Publish(ctx, testEvent("perm-1")); err != nil {
		t.Fatalf("the producer publishes a trigger: %v", err)
	}
	d := receive(t, got)
	if d.DecodeErr != nil || d.Event.ID() != "perm-1" || !d.Settled() {
		t.Fatalf("received %+v, want trigger perm-1 from JetStream", d)
	}
	key := ledger.KeyOf(*d.Event)
	if _, _, err := answers.Begin(ctx, key); err != nil {
		t.Fatalf("helm-service's user records a started trigger: %v", err)
	}
	held, err := leases.Acquire(ctx, "ns/perm")
	if err != nil {
		t.Fatalf("helm-service's user takes a lease: %v", err)
	}
	t.Cleanup(func() { _ = held.Release(context.Background()) })
	if err := answers.RecordRun(ctx, "ns/perm", "deployment", ledger.Run{TriggerID: "perm-1", Seq: 1}); err != nil {
		t.Fatalf("helm-service's user records a run: %v", err)
	}
	if err := answers.Finished(ctx, key, testEvent("perm-1-finished")); err != nil {
		t.Fatalf("helm-service's user records an answer: %v", err)
	}
	if err := d.Ack(ctx); err != nil {
		t.Fatalf("helm-service's user acknowledges: %v", err)
	}
	if err := b.Publish(ctx, testEvent("perm-1-finished")); err != nil {
		t.Fatalf("helm-service's user publishes its answer: %v", err)
	}

	admin, err := jetstream.New(b.conn)
	if err != nil {
		t.Fatal(err)
	}
	before := readState(t, admin, tasks, locks)
	ledgerKeys := make([]string, 0, len(before.Ledger))
	for k := range before.Ledger {
		ledgerKeys = append(ledgerKeys, k)
	}
	sort.Strings(ledgerKeys)
	leaseKey := lease.Key("ns/perm")
	if len(ledgerKeys) != 2 || before.Leases[leaseKey] == "" || len(before.Consumers["KEPTN"]) == 0 {
		t.Fatalf("helm-service's state before the producer's attempts is %+v, want two ledger entries, lease %s and the stream's consumer", before, leaseKey)
	}

	// The producer, on a raw connection, tries every write it must not do;
	// the server refuses each with a permissions violation.
	violations := make(chan error, 16)
	nc, err := nats.Connect(url, nats.UserInfo(producer.User, producer.Password),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { violations <- err }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	kvOp := func(op string) nats.Header {
		h := nats.Header{}
		h.Set("KV-Operation", op)
		if op == "PURGE" {
			h.Set("Nats-Rollup", "sub")
		}
		return h
	}
	attempts := []struct {
		name    string
		subject string
		header  nats.Header
		body    string
	}{
		{name: "forge a ledger answer", subject: "$KV." + ledgerBucket + "." + ledgerKeys[0], body: `{"state":"finished"}`},
		{name: "plant a ledger entry", subject: "$KV." + ledgerBucket + ".trigger.forged", body: `{"state":"started"}`},
		{name: "delete a ledger entry", subject: "$KV." + ledgerBucket + "." + ledgerKeys[1], header: kvOp("DEL")},
		{name: "purge a ledger entry", subject: "$KV." + ledgerBucket + "." + ledgerKeys[0], header: kvOp("PURGE")},
		{name: "purge the ledger", subject: "$JS.API.STREAM.PURGE.KV_" + ledgerBucket, body: "{}"},
		{name: "delete the ledger", subject: "$JS.API.STREAM.DELETE.KV_" + ledgerBucket},
		{name: "steal a lease", subject: "$KV." + leaseBucket + "." + leaseKey, body: "intruder"},
		{name: "delete a lease", subject: "$KV." + leaseBucket + "." + leaseKey, header: kvOp("DEL")},
		{name: "purge a lease", subject: "$KV." + leaseBucket + "." + leaseKey, header: kvOp("PURGE")},
		{name: "purge the lease bucket", subject: "$JS.API.STREAM.PURGE.KV_" + leaseBucket, body: "{}"},
		{name: "delete the lease bucket", subject: "$JS.API.STREAM.DELETE.KV_" + leaseBucket},
		{name: "create a stream", subject: "$JS.API.STREAM.CREATE.INTRUDER", body: `{"name":"INTRUDER","subjects":["sh.keptn.event.>"]}`},
		{name: "delete the event stream", subject: "$JS.API.STREAM.DELETE.KEPTN"},
		{name: "create a consumer", subject: "$JS.API.CONSUMER.CREATE.KEPTN.intruder", body: `{"stream_name":"KEPTN","config":{"durable_name":"intruder"}}`},
		{name: "delete helm-service's consumer", subject: "$JS.API.CONSUMER.DELETE.KEPTN.helm-service"},
		{name: "acknowledge for helm-service", subject: "$JS.ACK.KEPTN.helm-service.1.1.1.0.0", body: "+ACK"},
	}
	for _, a := range attempts {
		t.Run(a.name, func(t *testing.T) {
			msg := &nats.Msg{Subject: a.subject, Header: a.header, Data: []byte(a.body)}
			if err := nc.PublishMsg(msg); err != nil {
				t.Fatal(err)
			}
			if err := nc.Flush(); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-violations:
				if !errors.Is(err, nats.ErrPermissionViolation) {
					t.Fatalf("got %v, want a permissions violation", err)
				}
				refused := refusedPublish.FindStringSubmatch(err.Error())
				if refused == nil {
					t.Fatalf("refusal %q does not name the subject", err)
				}
				if diff := cmp.Diff(a.subject, refused[1]); diff != "" {
					t.Errorf("refused subject (-want +got):\n%s", diff)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("publishing on %s was not refused", a.subject)
			}
		})
	}
	if diff := cmp.Diff(before, readState(t, admin, tasks, locks)); diff != "" {
		t.Errorf("the producer changed helm-service's state (-before +after):\n%s", diff)
	}
}
