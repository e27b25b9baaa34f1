package handler

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/golang/mock/gomock"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/helm-service/helm-service/eventbus"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
	"github.com/helm-service/helm-service/pkg/ledger"
)

// buckets starts a NATS server in the test process and returns a lease
// bucket and a ledger bucket on it, as replicas share them.
func buckets(t *testing.T) (locks, tasks jetstream.KeyValue) {
	t.Helper()
	bus := newNATSRig(t).bus
	locks, err := bus.LeaseBucket(context.Background(), "locks", 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return locks, tasksBucket(t, bus)
}

// answersOfType returns the published events of one type.
func (r *recorder) answersOfType(eventType string) []cloudevents.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []cloudevents.Event
	for _, e := range r.events {
		if e.Type() == eventType {
			out = append(out, e)
		}
	}
	return out
}

func directTrigger(service string) map[string]any {
	in := validTrigger()
	in["service"] = service
	return in
}

func deliveryOfData(t *testing.T, data map[string]any, id string, seq uint64) eventbus.Delivery {
	e := triggerEvent(t, data)
	e.SetID(id)
	return eventbus.Delivery{Subject: e.Type(), Event: e, Seq: seq, Attempt: 1}
}

// upgradeResult answers an upgrade with a release that has one Service.
func upgradeResult(_ context.Context, req helm.Request) (*helm.Result, error) {
	return &helm.Result{Namespace: req.Namespace, Name: req.Name, Revision: 1, Services: []helm.Service{{Name: req.Name, Namespace: req.Namespace, Port: 80}}}, nil
}

// TestTriggersSharingAnIDButNotATypeAreEachAnswered replays Keptn's
// example events, which use one id for a release.triggered, an
// action.triggered and a service.delete.finished: each is a trigger of
// its own, answered with its own answer, and its work is done.
func TestTriggersSharingAnIDButNotATypeAreEachAnswered(t *testing.T) {
	_, tasks := buckets(t)
	f := newFixture(t)
	f.redispatch(Options{Ledger: ledger.New(tasks)})
	w := directV2.Workloads[0]
	f.releases.EXPECT().Find(gomock.Any(), ns, map[string]string{kube.LabelService: "carts"}).Return([]*helm.Record{directV2}, nil).Times(3) // release (twice), action
	f.scaler.EXPECT().Autoscaler(gomock.Any(), w).Return("", nil)
	f.scaler.EXPECT().Replicas(gomock.Any(), w).Return(int32(1), nil)
	f.scaler.EXPECT().ScaleBy(gomock.Any(), w, int32(1), int32(10)).Return(kube.Change{Workload: w, From: 1, To: 2}, nil)
	f.scaler.EXPECT().WaitScaled(gomock.Any(), directV2.Workloads).Return(nil)
	f.releases.EXPECT().Find(gomock.Any(), helm.AllNamespaces, gomock.Any()).Return([]*helm.Record{directV2}, nil)
	f.releases.EXPECT().Uninstall(gomock.Any(), ns, "carts", gomock.Any()).Return(nil)
	f.router.EXPECT().Remove(gomock.Any(), ns, "carts").Return(nil, nil)
	f.namespaces.EXPECT().DeleteIfEmpty(gomock.Any(), ns).Return(false, "", nil)

	release := eventOf(t, "sh.keptn.event.release.triggered", lifecycleEvent(t, "release", "pass"))
	action := scalingEvent(t, "+1")
	remove := deleteEvent(t)
	for i, e := range []*cloudevents.Event{release, action, remove} {
		e.SetID("f0ecb2a3-shared")
		f.dispatcher.Handle(context.Background(), eventbus.Delivery{Subject: e.Type(), Event: e, Seq: uint64(i + 1), Attempt: 1})
	}
	for _, typ := range []string{"sh.keptn.event.release.finished", "sh.keptn.event.action.finished", "sh.keptn.event.service.delete.finished"} {
		if got := f.published.answersOfType(typ); len(got) != 1 {
			t.Errorf("%d %s, want 1", len(got), typ)
		}
	}
	for _, typ := range []string{"sh.keptn.event.release.started", "sh.keptn.event.action.started"} {
		if got := f.published.answersOfType(typ); len(got) != 1 {
			t.Errorf("%d %s, want 1", len(got), typ)
		}
	}
}

// TestTriggersSharingAnIDButNotASourceAreEachAnswered: CloudEvents makes
// source and id unique together; two producers may pick the same id.
func TestTriggersSharingAnIDButNotASourceAreEachAnswered(t *testing.T) {
	_, tasks := buckets(t)
	f := newFixture(t)
	f.redispatch(Options{Ledger: ledger.New(tasks)})
	f.releases.EXPECT().Get(gomock.Any(), ns, gomock.Any()).Return(nil, helm.ErrNotFound).Times(2)
	f.charts.EXPECT().Load(gomock.Any(), gomock.Any()).Return(testChart(), nil).Times(2)
	f.namespaces.EXPECT().Ensure(gomock.Any(), ns, gomock.Any()).Return(nil).Times(2)
	var mu sync.Mutex
	var upgraded []string
	f.releases.EXPECT().Upgrade(gomock.Any(), gomock.Any()).DoAndReturn(func(ctx context.Context, req helm.Request) (*helm.Result, error) {
		mu.Lock()
		upgraded = append(upgraded, req.Name)
		mu.Unlock()
		return upgradeResult(ctx, req)
	}).Times(2)
	for i, svc := range []string{"carts", "orders"} {
		e := triggerEvent(t, directTrigger(svc))
		e.SetID("1")
		e.SetSource(fmt.Sprint("producer-", i))
		f.dispatcher.Handle(context.Background(), eventbus.Delivery{Subject: e.Type(), Event: e, Seq: uint64(i + 1), Attempt: 1})
	}
	got := f.published.finishedByID(t)["1"]
	if len(got) != 2 || got[0].Service != "carts" || got[1].Service != "orders" || got[0].Status != events.StatusSucceeded || got[1].Status != events.StatusSucceeded {
		t.Errorf(".finished %+v, want carts then orders, succeeded", got)
	}
	if strings.Join(upgraded, ",") != "carts,orders" {
		t.Errorf("upgraded %v, want carts and orders", upgraded)
	}
}

// TestTriggersSharingAnIDButNotASourceRunAtOnce: while one runs, another
// trigger with its id from another source is not taken for a second
// delivery of it.
func TestTriggersSharingAnIDButNotASourceRunAtOnce(t *testing.T) {
	f := newFixture(t)
	f.releases.EXPECT().Get(gomock.Any(), ns, gomock.Any()).Return(nil, helm.ErrNotFound).Times(2)
	f.charts.EXPECT().Load(gomock.Any(), gomock.Any()).Return(testChart(), nil).Times(2)
	f.namespaces.EXPECT().Ensure(gomock.Any(), ns, gomock.Any()).Return(nil).Times(2)
	unblock := make(chan struct{})
	var ordersUpgraded atomic.Bool
	f.releases.EXPECT().Upgrade(gomock.Any(), gomock.Any()).DoAndReturn(func(ctx context.Context, req helm.Request) (*helm.Result, error) {
		if req.Name == "carts" {
			<-unblock
		} else {
			ordersUpgraded.Store(true)
		}
		return upgradeResult(ctx, req)
	}).Times(2)
	var wg sync.WaitGroup
	for i, svc := range []string{"carts", "orders"} {
		e := triggerEvent(t, directTrigger(svc))
		e.SetID("1")
		e.SetSource(fmt.Sprint("producer-", i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.dispatcher.Handle(context.Background(), eventbus.Delivery{Subject: e.Type(), Event: e, Seq: uint64(i + 1), Attempt: 1})
		}()
		if i == 0 {
			eventually(t, "the first trigger runs", func() bool { return f.dispatcher.lanes.Running("sockshop-staging/carts") })
		}
	}
	deadline := time.Now().Add(3 * time.Second)
	for !ordersUpgraded.Load() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	close(unblock)
	wg.Wait()
	if !ordersUpgraded.Load() {
		t.Error("the trigger of producer-1 waited for the one of producer-0 with the same id")
	}
	if got := f.published.finishedByID(t)["1"]; len(got) != 2 {
		t.Errorf(".finished %+v, want one for each trigger", got)
	}
}

// TestReplayIsAnsweredOnlyWithAnAnswerToTheTrigger: a ledger entry under
// the trigger's key whose answer is not an answer to it (of another type,
// say) is not sent; the trigger is handled as new.
func TestReplayIsAnsweredOnlyWithAnAnswerToTheTrigger(t *testing.T) {
	_, tasks := buckets(t)
	l := ledger.New(tasks)
	f := newFixture(t)
	f.redispatch(Options{Ledger: l})
	ctx := context.Background()
	e := triggerEvent(t, validTrigger())
	wrong := cloudevents.NewEvent()
	wrong.SetID("release-finished")
	wrong.SetSource("helm-service")
	wrong.SetType("sh.keptn.event.release.finished")
	wrong.SetExtension(events.ExtTriggeredID, e.ID())
	if err := l.Finished(ctx, ledger.KeyOf(*e), wrong); err != nil {
		t.Fatal(err)
	}
	f.releases.EXPECT().Get(gomock.Any(), ns, "carts").Return(nil, helm.ErrNotFound)
	f.charts.EXPECT().Load(gomock.Any(), gomock.Any()).Return(testChart(), nil)
	f.namespaces.EXPECT().Ensure(gomock.Any(), ns, gomock.Any()).Return(nil)
	f.releases.EXPECT().Upgrade(gomock.Any(), gomock.Any()).DoAndReturn(upgradeResult)
	f.deliver(e)
	fin, data := f.published.finished(t)
	if data.Status != events.StatusSucceeded {
		t.Fatalf("finished %s: %s", data.Status, data.Message)
	}
	if entry, found, err := l.Lookup(ctx, ledger.KeyOf(*e)); err != nil || !found || entry.Finished == nil || entry.Finished.ID() != fin.ID() {
		t.Errorf("ledger entry %+v %v %v, want the deployment's own .finished", entry, found, err)
	}
}
