package ledger

import (
	"context"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/helm-service/helm-service/eventbus"
)

func bucket(t *testing.T, ttl time.Duration) *Ledger {
	t.Helper()
	ns, err := eventbus.StartEmbedded(eventbus.EmbeddedOptions{Listen: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	bus, err := eventbus.Connect(context.Background(), eventbus.Options{URL: ns.ClientURL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)
	kv, err := bus.KeyValue(context.Background(), "tasks", ttl)
	if err != nil {
		t.Fatal(err)
	}
	return New(kv)
}

func TestLedgerRecordsStartedThenFinished(t *testing.T) {
	l := bucket(t, time.Hour)
	ctx := context.Background()
	// Trigger ids are free text; any of them must work as a key.
	id := "keptn/trigger id with spaces & ünïcode*>"
	if _, found, err := l.Lookup(ctx, id); err != nil || found {
		t.Fatalf("unknown trigger: found=%v err=%v", found, err)
	}
	if _, found, err := l.Begin(ctx, id); err != nil || found {
		t.Fatalf("first Begin: found=%v err=%v, want a new entry", found, err)
	}
	if e, found, err := l.Lookup(ctx, id); err != nil || !found || e.State != StateStarted || e.Finished != nil {
		t.Fatalf("after Begin: %+v %v %v", e, found, err)
	}
	if e, found, err := l.Begin(ctx, id); err != nil || !found || e.State != StateStarted {
		t.Fatalf("second Begin: %+v %v %v, want the started entry", e, found, err)
	}
	fin := cloudevents.NewEvent()
	fin.SetID("finished-1")
	fin.SetSource("helm-service")
	fin.SetType("sh.keptn.event.deployment.finished")
	_ = fin.SetData(cloudevents.ApplicationJSON, map[string]string{"status": "succeeded"})
	if err := l.Finished(ctx, id, fin); err != nil {
		t.Fatal(err)
	}
	e, found, err := l.Lookup(ctx, id)
	if err != nil || !found || e.State != StateFinished || e.Finished.ID() != "finished-1" || string(e.Finished.Data()) != `{"status":"succeeded"}` {
		t.Fatalf("after Finished: %+v %v %v", e, found, err)
	}
}

func TestLedgerEntriesExpire(t *testing.T) {
	l := bucket(t, time.Second)
	ctx := context.Background()
	if _, _, err := l.Begin(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, found, err := l.Lookup(ctx, "old")
		if err != nil {
			t.Fatal(err)
		}
		if !found {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("entry still there 10s after a 1s TTL")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestLedgerRemembersTheLastRunPerReleaseAndKind(t *testing.T) {
	l := bucket(t, time.Hour)
	ctx := context.Background()
	if _, found, err := l.LastRun(ctx, "shop-prod/carts", "deployment"); err != nil || found {
		t.Fatalf("nothing ran yet: found=%v err=%v", found, err)
	}
	if err := l.RecordRun(ctx, "shop-prod/carts", "deployment", Run{TriggerID: "t-7", Seq: 7}); err != nil {
		t.Fatal(err)
	}
	if err := l.RecordRun(ctx, "shop-prod/carts", "release", Run{TriggerID: "t-9", Seq: 9}); err != nil {
		t.Fatal(err)
	}
	run, found, err := l.LastRun(ctx, "shop-prod/carts", "deployment")
	if err != nil || !found || run != (Run{TriggerID: "t-7", Seq: 7}) {
		t.Fatalf("LastRun = %+v %v %v, want t-7 at 7", run, found, err)
	}
	if _, found, _ := l.LastRun(ctx, "shop-prod/orders", "deployment"); found {
		t.Error("another release shares the record")
	}
}

func TestLedgerForgetLetsTheTriggerBeginAgain(t *testing.T) {
	l := bucket(t, time.Hour)
	ctx := context.Background()
	if _, found, err := l.Begin(ctx, "t1"); err != nil || found {
		t.Fatalf("first Begin: found=%v err=%v", found, err)
	}
	if err := l.Forget(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if err := l.Forget(ctx, "never-seen"); err != nil {
		t.Errorf("Forget of an unknown trigger: %v, want nil", err)
	}
	if _, found, err := l.Begin(ctx, "t1"); err != nil || found {
		t.Fatalf("Begin after Forget: found=%v err=%v, want a new entry", found, err)
	}
}
