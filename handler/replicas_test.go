package handler

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/mock/gomock"

	"github.com/helm-service/helm-service/eventbus"
	"github.com/helm-service/helm-service/handler/mocks"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/lease"
	"github.com/helm-service/helm-service/pkg/ledger"
)

// overlapTask stands for a task that must never run twice at once on one
// release: it counts how many run at the same time.
type overlapTask struct {
	superseding      bool
	inside, overlaps atomic.Int32
	mu               sync.Mutex
	ran              []string
}

func (o *overlapTask) Name() string      { return events.TaskDeployment }
func (o *overlapTask) Superseding() bool { return o.superseding }

func (o *overlapTask) Run(_ context.Context, t Trigger) (events.Finished, error) {
	if o.inside.Add(1) > 1 {
		o.overlaps.Add(1)
	}
	time.Sleep(20 * time.Millisecond)
	o.inside.Add(-1)
	o.mu.Lock()
	o.ran = append(o.ran, t.Event.ID())
	o.mu.Unlock()
	return &events.DeploymentFinished{}, nil
}

// replicas are dispatchers of one task sharing a lease bucket and a ledger
// on a NATS server in the test process, as replicas share them.
func replicas(t *testing.T, n int, task Task) ([]*Dispatcher, *recorder) {
	t.Helper()
	locks, tasks := buckets(t)
	pub := mocks.NewMockPublisher(gomock.NewController(t))
	rec := &recorder{}
	rec.expect(pub)
	out := make([]*Dispatcher, n)
	for i := range out {
		out[i] = NewDispatcher("helm-service", pub, quiet, []Task{task}, Options{
			Leases: lease.New(locks, fmt.Sprintf("replica-%d", i), 3*time.Second, quiet),
			Ledger: ledger.New(tasks),
		})
	}
	return out, rec
}

func deliveryOf(t *testing.T, id string, seq uint64) eventbus.Delivery {
	e := triggerEvent(t, validTrigger())
	e.SetID(id)
	return eventbus.Delivery{Subject: e.Type(), Event: e, Seq: seq, Attempt: 1}
}

func TestReplicasNeverRunOneReleaseAtOnce(t *testing.T) {
	task := &overlapTask{}
	ds, rec := replicas(t, 3, task)
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ds[i%len(ds)].Handle(context.Background(), deliveryOf(t, fmt.Sprintf("t-%02d", i), uint64(i+1)))
		}()
	}
	wg.Wait()
	if got := len(task.ran); got != 12 || task.overlaps.Load() != 0 {
		t.Fatalf("%d runs, %d overlapping; want 12 runs one at a time", got, task.overlaps.Load())
	}
	for id, fin := range rec.finishedByID(t) {
		if len(fin) != 1 || fin[0].Status != events.StatusSucceeded {
			t.Errorf("%s answered %+v, want one succeeded .finished", id, fin)
		}
	}
}

func TestReplicaRefusesATriggerOlderThanOneThatRanElsewhere(t *testing.T) {
	task := &overlapTask{superseding: true}
	ds, rec := replicas(t, 2, task)
	ctx := context.Background()
	ds[1].Handle(ctx, deliveryOf(t, "newer", 5))
	ds[0].Handle(ctx, deliveryOf(t, "older", 3))
	ds[0].Handle(ctx, deliveryOf(t, "newest", 8))
	if strings.Join(task.ran, ",") != "newer,newest" {
		t.Fatalf("ran %v, want newer then newest", task.ran)
	}
	fin := rec.finishedByID(t)
	if d := fin["older"]; len(d) != 1 || d[0].Status != events.StatusErrored || !strings.Contains(d[0].Message, "superseded by trigger newer") || !strings.Contains(d[0].Message, "already ran") {
		t.Errorf("older trigger answered %+v, want errored, superseded by newer", d)
	}
}

func TestStopAcceptingHandsBackATaskWaitingForAnotherReplica(t *testing.T) {
	task := &overlapTask{}
	ds, rec := replicas(t, 2, task)
	ctx := context.Background()
	// Another replica holds the release's lease.
	held, err := ds[1].opts.Leases.Acquire(ctx, "sockshop-staging/carts")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ds[0].Handle(ctx, deliveryOf(t, "waiting", 1))
	}()
	time.Sleep(300 * time.Millisecond)
	ds[0].StopAccepting()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting task did not give up when the replica stopped taking work")
	}
	if len(task.ran) != 0 || len(rec.finishedByID(t)) != 0 {
		t.Fatalf("ran %v, answered %v; want neither (handed back)", task.ran, rec.finishedByID(t))
	}
}
