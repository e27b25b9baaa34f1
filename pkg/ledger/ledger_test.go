package ledger

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/helm-service/helm-service/eventbus"
)

func bucket(t *testing.T, ttl time.Duration) *Ledger {
	t.Helper()
	return New(storeWithTTL(t, ttl))
}

// store is a real key-value bucket on an embedded server.
func store(t *testing.T) Store { return storeWithTTL(t, time.Hour) }

func storeWithTTL(t *testing.T, ttl time.Duration) Store {
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
	return kv
}

// keyOf is the key of a deployment trigger from Keptn's shipyard
// controller.
func keyOf(id string) Key {
	return Key{Source: "shipyard-controller", ID: id, Type: "sh.keptn.event.deployment.triggered"}
}

func TestLedgerRecordsStartedThenFinished(t *testing.T) {
	l := bucket(t, time.Hour)
	ctx := context.Background()
	// Trigger ids are free text; any of them must work as a key.
	id := "keptn/trigger id with spaces & ünïcode*>"
	if _, found, err := l.Lookup(ctx, keyOf(id)); err != nil || found {
		t.Fatalf("unknown trigger: found=%v err=%v", found, err)
	}
	if _, found, err := l.Begin(ctx, keyOf(id)); err != nil || found {
		t.Fatalf("first Begin: found=%v err=%v, want a new entry", found, err)
	}
	if e, found, err := l.Lookup(ctx, keyOf(id)); err != nil || !found || e.State != StateStarted || e.Finished != nil {
		t.Fatalf("after Begin: %+v %v %v", e, found, err)
	}
	if e, found, err := l.Begin(ctx, keyOf(id)); err != nil || !found || e.State != StateStarted {
		t.Fatalf("second Begin: %+v %v %v, want the started entry", e, found, err)
	}
	fin := cloudevents.NewEvent()
	fin.SetID("finished-1")
	fin.SetSource("helm-service")
	fin.SetType("sh.keptn.event.deployment.finished")
	_ = fin.SetData(cloudevents.ApplicationJSON, map[string]string{"status": "succeeded"})
	if err := l.Finished(ctx, keyOf(id), fin); err != nil {
		t.Fatal(err)
	}
	e, found, err := l.Lookup(ctx, keyOf(id))
	if err != nil || !found || e.State != StateFinished || e.Finished.ID() != "finished-1" || string(e.Finished.Data()) != `{"status":"succeeded"}` {
		t.Fatalf("after Finished: %+v %v %v", e, found, err)
	}
}

func TestLedgerEntriesExpire(t *testing.T) {
	l := bucket(t, time.Second)
	ctx := context.Background()
	if _, _, err := l.Begin(ctx, keyOf("old")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, found, err := l.Lookup(ctx, keyOf("old"))
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
	if _, found, err := l.Begin(ctx, keyOf("t1")); err != nil || found {
		t.Fatalf("first Begin: found=%v err=%v", found, err)
	}
	if err := l.Forget(ctx, keyOf("t1")); err != nil {
		t.Fatal(err)
	}
	if err := l.Forget(ctx, keyOf("never-seen")); err != nil {
		t.Errorf("Forget of an unknown trigger: %v, want nil", err)
	}
	if _, found, err := l.Begin(ctx, keyOf("t1")); err != nil || found {
		t.Fatalf("Begin after Forget: found=%v err=%v, want a new entry", found, err)
	}
}

// TestLedgerKeysTriggersOnSourceIDAndType: Keptn's example events share
// one id between a release.triggered, an action.triggered and a
// service.delete.finished, and two producers may pick one id: each is a
// trigger of its own.
func TestLedgerKeysTriggersOnSourceIDAndType(t *testing.T) {
	l := bucket(t, time.Hour)
	ctx := context.Background()
	release := Key{Source: "shipyard-controller", ID: "f0ecb2a3", Type: "sh.keptn.event.release.triggered"}
	others := []Key{
		{Source: "shipyard-controller", ID: "f0ecb2a3", Type: "sh.keptn.event.action.triggered"},
		{Source: "shipyard-controller", ID: "f0ecb2a3", Type: "sh.keptn.event.service.delete.finished"},
		{Source: "remediation-service", ID: "f0ecb2a3", Type: "sh.keptn.event.release.triggered"},
		// Texts that would run together without a separator.
		{Source: "shipyard-controllerf0ecb2a3", ID: "", Type: "sh.keptn.event.release.triggered"},
	}
	if _, found, err := l.Begin(ctx, release); err != nil || found {
		t.Fatalf("Begin of the release trigger: found=%v err=%v", found, err)
	}
	fin := cloudevents.NewEvent()
	fin.SetID("release-finished")
	fin.SetSource("helm-service")
	fin.SetType("sh.keptn.event.release.finished")
	if err := l.Finished(ctx, release, fin); err != nil {
		t.Fatal(err)
	}
	for _, k := range others {
		if e, found, err := l.Begin(ctx, k); err != nil || found {
			t.Errorf("Begin of %s: found %+v (%v), err %v; want a new entry", k, e, found, err)
		}
	}
	if e, found, err := l.Lookup(ctx, release); err != nil || !found || e.Finished == nil || e.Finished.ID() != "release-finished" {
		t.Errorf("release trigger's entry = %+v %v %v, want its own .finished", e, found, err)
	}
}

// TestLedgerKeysAreReadableWherePossible: the type and the id show in the
// key when they are valid key tokens; anything else is hashed.
func TestLedgerKeysAreReadableWherePossible(t *testing.T) {
	uuid := "0b7c5b36-6f1b-4a7e-9a1f-3cf6f3f2f0a1"
	readable := entryKey(Key{Source: "https://github.com/keptn/keptn/shipyard-controller", ID: uuid, Type: "sh.keptn.event.deployment.triggered"})
	if want := "trigger.sh.keptn.event.deployment.triggered." + uuid + "."; !strings.HasPrefix(readable, want) || len(readable) != len(want)+64 {
		t.Errorf("key %q, want %s<sha256>", readable, want)
	}
	hashed := entryKey(Key{Source: "s", ID: "keptn/trigger id with spaces & ünïcode*>", Type: "sh.keptn.event.deployment.triggered"})
	if want := "trigger.sh.keptn.event.deployment.triggered."; !strings.HasPrefix(hashed, want) || len(hashed) != len(want)+64 {
		t.Errorf("key %q, want %s<sha256>", hashed, want)
	}
	valid := regexp.MustCompile(`^[-_=a-zA-Z0-9]+(\.[-_=a-zA-Z0-9]+)*$`) // NATS key-value keys
	for _, k := range []Key{
		{Source: "a", ID: "b", Type: "c"},
		{Source: "", ID: "..", Type: "sh.keptn.event..triggered"},
		{Source: "*", ID: strings.Repeat("x", 65), Type: strings.Repeat("y", 101)},
		{Source: ">", ID: "a.b", Type: "-"},
	} {
		if key := entryKey(k); !valid.MatchString(key) {
			t.Errorf("key of %s = %q, not a valid key", k, key)
		}
	}
}

// TestLedgerLastRunIsOfItsOwnStream plants runs with a huge sequence
// number in the bucket: only one recorded for the ledger's own stream is
// the last run, so a recreated stream or a forged entry cannot make a
// trigger superseded.
func TestLedgerLastRunIsOfItsOwnStream(t *testing.T) {
	const own = "KEPTN 2026-12-01T10:00:00.123456789Z"
	tests := []struct {
		name      string
		planted   string // the raw value put in the bucket
		wantFound bool
		want      Run
	}{
		{name: "same stream", planted: `{"triggerId":"t-1","seq":1000000,"stream":"` + own + `"}`, wantFound: true, want: Run{TriggerID: "t-1", Seq: 1000000, Stream: own}},
		{name: "the stream created again", planted: `{"triggerId":"t-1","seq":1000000,"stream":"KEPTN 2026-12-01T11:00:00Z"}`},
		{name: "another stream", planted: `{"triggerId":"t-1","seq":1000000,"stream":"OTHER 2026-12-01T10:00:00.123456789Z"}`},
		{name: "no stream", planted: `{"triggerId":"t-1","seq":18446744073709551615}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kv := store(t)
			ctx := context.Background()
			if _, err := kv.Put(ctx, runKey("shop-prod/carts", "deployment"), []byte(tt.planted)); err != nil {
				t.Fatal(err)
			}
			run, found, err := New(kv, InStream(own)).LastRun(ctx, "shop-prod/carts", "deployment")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(struct {
				Found bool
				Run   Run
			}{tt.wantFound, tt.want}, struct {
				Found bool
				Run   Run
			}{found, run}); diff != "" {
				t.Errorf("LastRun (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLedgerRecordRunStampsItsStream checks that a run recorded by one
// ledger is the last run for a ledger of the same stream only.
func TestLedgerRecordRunStampsItsStream(t *testing.T) {
	kv := store(t)
	ctx := context.Background()
	if err := New(kv, InStream("KEPTN 1")).RecordRun(ctx, "shop-prod/carts", "deployment", Run{TriggerID: "t-7", Seq: 7}); err != nil {
		t.Fatal(err)
	}
	run, found, err := New(kv, InStream("KEPTN 1")).LastRun(ctx, "shop-prod/carts", "deployment")
	if err != nil || !found {
		t.Fatalf("LastRun of the same stream: found=%v err=%v", found, err)
	}
	if diff := cmp.Diff(Run{TriggerID: "t-7", Seq: 7, Stream: "KEPTN 1"}, run); diff != "" {
		t.Errorf("LastRun (-want +got):\n%s", diff)
	}
	if run, found, err := New(kv, InStream("KEPTN 2")).LastRun(ctx, "shop-prod/carts", "deployment"); err != nil || found {
		t.Errorf("LastRun of a stream created again = %+v, found=%v, err=%v; want none", run, found, err)
	}
}
