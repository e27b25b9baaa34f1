package handler

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/mock/gomock"

	"github.com/helm-service/helm-service/eventbus"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/metrics"
)

// waiting is how many tickets wait in the lane of key.
func (q *releaseQueue) waiting(key string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if l := q.lanes[key]; l != nil {
		return len(l.waiting)
	}
	return 0
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// finishedByID returns the .finished data of each trigger id.
func (r *recorder) finishedByID(t *testing.T) map[string][]events.DeploymentFinished {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string][]events.DeploymentFinished{}
	for _, e := range r.events {
		if e.Type() != "sh.keptn.event.deployment.finished" {
			continue
		}
		var d events.DeploymentFinished
		if err := json.Unmarshal(e.Data(), &d); err != nil {
			t.Fatal(err)
		}
		id := events.StringExtension(e, events.ExtTriggeredID)
		out[id] = append(out[id], d)
	}
	return out
}

func TestQueuedDeploymentsOfOneReleaseOnlyTheNewestRuns(t *testing.T) {
	f := newFixture(t)
	m := metrics.New()
	f.redispatch(Options{Observer: m})
	f.releases.EXPECT().Get(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil, helm.ErrNotFound).AnyTimes() // nothing deployed yet
	unblock := make(chan struct{})
	var ran []string
	var mu sync.Mutex
	f.charts.EXPECT().Load(gomock.Any(), gomock.Any()).Return(testChart(), nil).Times(2)
	f.namespaces.EXPECT().Ensure(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil).Times(2)
	f.releases.EXPECT().Upgrade(gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, req helm.Request) (*helm.Result, error) {
		mu.Lock()
		ran = append(ran, req.Values["image"].(string))
		first := len(ran) == 1
		mu.Unlock()
		if first {
			<-unblock
		}
		return &helm.Result{Namespace: req.Namespace, Name: req.Name, Revision: len(ran)}, nil
	}).Times(2)

	deliver := func(i int) {
		in := validTrigger()
		in["configurationChange"] = map[string]any{"values": map[string]any{"image": fmt.Sprint("carts:", i)}}
		e := triggerEvent(t, in)
		e.SetID(fmt.Sprint("t-", i))
		f.dispatcher.Handle(context.Background(), eventbus.Delivery{Subject: e.Type(), Event: e, Seq: uint64(i)})
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); deliver(0) }()
	eventually(t, "the first deployment runs", func() bool { mu.Lock(); defer mu.Unlock(); return len(ran) == 1 })
	// Five more arrive, out of order, while the first runs.
	for _, i := range []int{3, 1, 5, 2, 4} {
		wg.Add(1)
		go func() { defer wg.Done(); deliver(i) }()
	}
	eventually(t, "five deployments queue up", func() bool { return f.dispatcher.queue.waiting("sockshop-staging/carts") == 5 })
	close(unblock)
	wg.Wait()

	if fmt.Sprint(ran) != "[carts:0 carts:5]" {
		t.Errorf("ran %v, want the running one and then only the newest", ran)
	}
	byID := f.published.finishedByID(t)
	for i := range 6 {
		got := byID[fmt.Sprint("t-", i)]
		if len(got) != 1 {
			t.Fatalf("trigger t-%d got %d .finished, want 1", i, len(got))
		}
		superseded := i >= 1 && i <= 4
		if superseded != strings.Contains(got[0].Message, "superseded by trigger t-5") {
			t.Errorf("t-%d: %s %s", i, got[0].Status, got[0].Message)
		}
		if superseded && got[0].Status != events.StatusErrored {
			t.Errorf("superseded t-%d finished %s", i, got[0].Status)
		}
	}
	for result, want := range map[string]float64{"pass": 2, "superseded": 4, "errored": 0} {
		if got := counterValue(t, m, "helm_service_tasks_total", map[string]string{"task": "deployment", "result": result}); got != want {
			t.Errorf("tasks_total{deployment,%s} = %v, want %v", result, got, want)
		}
	}
	if n := histogramCount(t, m, "helm_service_task_duration_seconds"); n != 2 {
		t.Errorf("task duration observations = %d, want 2: superseded ones do not run", n)
	}
}

func TestReleasesRunInParallelOnABoundedPool(t *testing.T) {
	f := newFixture(t)
	f.releases.EXPECT().Get(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil, helm.ErrNotFound).AnyTimes() // nothing deployed yet
	f.redispatch(Options{MaxParallel: 2})
	var running, peak atomic.Int32
	perRelease := sync.Map{}
	f.charts.EXPECT().Load(gomock.Any(), gomock.Any()).Return(testChart(), nil).AnyTimes()
	f.namespaces.EXPECT().Ensure(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil).AnyTimes()
	f.releases.EXPECT().Upgrade(gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, req helm.Request) (*helm.Result, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		c, _ := perRelease.LoadOrStore(req.Name, new(atomic.Int32))
		if c.(*atomic.Int32).Add(1) > 1 {
			t.Errorf("two tasks on release %s at once", req.Name)
		}
		time.Sleep(20 * time.Millisecond)
		c.(*atomic.Int32).Add(-1)
		return &helm.Result{Namespace: req.Namespace, Name: req.Name, Revision: 1}, nil
	}).Times(8)
	var wg sync.WaitGroup
	for i := range 8 {
		in := validTrigger()
		in["service"] = fmt.Sprint("svc-", i)
		e := triggerEvent(t, in)
		e.SetID(fmt.Sprint("p-", i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.dispatcher.Handle(context.Background(), eventbus.Delivery{Subject: e.Type(), Event: e, Seq: uint64(i)})
		}()
	}
	wg.Wait()
	if p := peak.Load(); p != 2 {
		t.Errorf("peak parallel tasks = %d, want MaxParallel = 2", p)
	}
}

func TestNamespaceOutsideTheAllowListIsRefused(t *testing.T) {
	f := newFixture(t) // no EXPECT: nothing may be touched
	f.redispatch(Options{AllowNamespace: func(ns string) error { return fmt.Errorf("namespace %q is not allowed", ns) }})
	f.deliver(triggerEvent(t, validTrigger()))
	_, data := f.published.finished(t)
	if data.Status != events.StatusErrored || !strings.Contains(data.Message, `namespace "sockshop-staging" is not allowed`) {
		t.Errorf("finished = %+v", data.Common)
	}
}

func TestStopAcceptingHandsQueuedTasksBack(t *testing.T) {
	f := newFixture(t)
	f.releases.EXPECT().Get(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil, helm.ErrNotFound).AnyTimes() // nothing deployed yet
	unblock := make(chan struct{})
	f.charts.EXPECT().Load(gomock.Any(), gomock.Any()).Return(testChart(), nil)
	f.namespaces.EXPECT().Ensure(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil)
	f.releases.EXPECT().Upgrade(gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, req helm.Request) (*helm.Result, error) {
		<-unblock
		return &helm.Result{Namespace: req.Namespace, Name: req.Name, Revision: 1}, nil
	})
	running := triggerEvent(t, validTrigger())
	running.SetID("running")
	queued := triggerEvent(t, validTrigger())
	queued.SetID("queued")
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		f.dispatcher.Handle(context.Background(), eventbus.Delivery{Subject: running.Type(), Event: running, Seq: 1})
	}()
	eventually(t, "the first task runs", func() bool {
		f.dispatcher.queue.mu.Lock()
		defer f.dispatcher.queue.mu.Unlock()
		return len(f.dispatcher.queue.lanes) == 1
	})
	go func() {
		defer wg.Done()
		f.dispatcher.Handle(context.Background(), eventbus.Delivery{Subject: queued.Type(), Event: queued, Seq: 2})
	}()
	eventually(t, "the second task queues", func() bool { return f.dispatcher.queue.waiting("sockshop-staging/carts") == 1 })
	f.dispatcher.StopAccepting()
	close(unblock)
	wg.Wait()
	byID := f.published.finishedByID(t)
	if len(byID["running"]) != 1 || byID["running"][0].Status != events.StatusSucceeded {
		t.Errorf("the running task was not finished: %+v", byID["running"])
	}
	if len(byID["queued"]) != 0 {
		t.Errorf("the queued task was answered during shutdown: %+v", byID["queued"])
	}
}

// TestSameTriggerDeliveredTwiceAtOnceRunsOnce: a server that lost track
// of a delivery (NATS restarted) delivers it again while it still runs.
func TestSameTriggerDeliveredTwiceAtOnceRunsOnce(t *testing.T) {
	f := newFixture(t)
	f.releases.EXPECT().Get(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil, helm.ErrNotFound).AnyTimes() // nothing deployed yet
	unblock := make(chan struct{})
	f.charts.EXPECT().Load(gomock.Any(), gomock.Any()).Return(testChart(), nil).Times(1)
	f.namespaces.EXPECT().Ensure(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil).Times(1)
	f.releases.EXPECT().Upgrade(gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, req helm.Request) (*helm.Result, error) {
		<-unblock
		return &helm.Result{Namespace: req.Namespace, Name: req.Name, Revision: 1}, nil
	}).Times(1)
	e := triggerEvent(t, validTrigger())
	var wg sync.WaitGroup
	for attempt := 1; attempt <= 2; attempt++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.dispatcher.Handle(context.Background(), eventbus.Delivery{Subject: e.Type(), Event: e, Seq: 7, Attempt: attempt})
		}()
		if attempt == 1 {
			eventually(t, "the first delivery runs", func() bool {
				return f.dispatcher.answers.InFlight() == 1
			})
		}
	}
	time.Sleep(50 * time.Millisecond)
	close(unblock)
	wg.Wait()
	if got := f.published.finishedByID(t)["trigger-id"]; len(got) != 1 || got[0].Status != events.StatusSucceeded {
		t.Errorf(".finished = %+v, want one, succeeded", got)
	}
}

// TestQueueRunsTicketsOnSeveralReleasesWithoutDeadlock: tickets on
// overlapping sets of releases, entering in any order, all run, never two
// on one release at once.
func TestQueueRunsTicketsOnSeveralReleasesWithoutDeadlock(t *testing.T) {
	q := newReleaseQueue(3)
	sets := [][]string{{"ns/a", "ns/b"}, {"ns/b", "ns/c"}, {"ns/c", "ns/a"}, {"ns/a"}, {"ns/a", "ns/b", "ns/c"}, {"ns/c"}}
	var mu sync.Mutex
	busy := map[string]bool{}
	var wg sync.WaitGroup
	for i := range 60 {
		keys := sortedKeys(sets[i%len(sets)])
		wg.Add(1)
		go func() {
			defer wg.Done()
			release, by, err := q.acquire(context.Background(), keys, "task", fmt.Sprint(i), uint64(60-i), false)
			if err != nil || by != nil {
				t.Errorf("ticket %d: %v %v", i, by, err)
				return
			}
			mu.Lock()
			for _, k := range keys {
				if busy[k] {
					t.Errorf("two tickets on %s at once", k)
				}
				busy[k] = true
			}
			mu.Unlock()
			time.Sleep(time.Millisecond)
			mu.Lock()
			for _, k := range keys {
				busy[k] = false
			}
			mu.Unlock()
			release()
		}()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("tickets wait for each other")
	}
	if n := len(q.lanes); n != 0 {
		t.Errorf("%d lanes left behind", n)
	}
}

// TestQueueSupersedesOnlyTheSameWork: among deployments on the same
// releases queued back to back only the newest runs; one on a part of
// them (another service sharing a release) in between is not the same
// work and keeps the older one from being superseded.
func TestQueueSupersedesOnlyTheSameWork(t *testing.T) {
	q := newReleaseQueue(4)
	ctx := context.Background()
	blueGreen := []string{"ns/carts-canary", "ns/carts-primary"}
	release, _, err := q.acquire(ctx, blueGreen, "deployment", "running", 1, true)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		id string
		by *superseded
	}
	results := make(chan result, 8)
	enter := func(keys []string, id string, seq uint64) {
		go func() {
			rel, by, err := q.acquire(ctx, keys, "deployment", id, seq, true)
			if err != nil {
				t.Error(err)
			}
			if rel != nil {
				rel()
			}
			results <- result{id, by}
		}()
		eventually(t, id+" queues", func() bool { return q.waiting(keys[len(keys)-1]) > 0 && q.ticketWaits(id) })
	}
	enter(blueGreen, "bg-2", 2)
	enter([]string{"ns/carts-primary"}, "direct-3", 3)
	enter(blueGreen, "bg-4", 4)
	enter(blueGreen, "bg-5", 5)
	release()
	got := map[string]string{}
	for range 4 {
		r := <-results
		got[r.id] = "ran"
		if r.by != nil {
			got[r.id] = "superseded by " + r.by.by
		}
	}
	want := map[string]string{"bg-2": "ran", "direct-3": "ran", "bg-4": "superseded by bg-5", "bg-5": "ran"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	// A late one older than bg-5 is superseded by it, which already ran.
	if _, by, err := q.acquire(ctx, blueGreen, "deployment", "bg-late", 3, true); err != nil || by == nil || by.by != "bg-5" || !by.ran {
		t.Errorf("late ticket: %+v %v, want superseded by bg-5 that ran", by, err)
	}
}

// ticketWaits tells whether the ticket of trigger id waits in a lane.
func (q *releaseQueue) ticketWaits(id string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, l := range q.lanes {
		for _, w := range l.waiting {
			if w.id == id {
				return true
			}
		}
	}
	return false
}
