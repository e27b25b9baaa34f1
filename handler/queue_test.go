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
	eventually(t, "five deployments queue up", func() bool { return f.dispatcher.lanes.Waiting("sockshop-staging/carts") == 5 })
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
		return f.dispatcher.lanes.Busy() == 1
	})
	go func() {
		defer wg.Done()
		f.dispatcher.Handle(context.Background(), eventbus.Delivery{Subject: queued.Type(), Event: queued, Seq: 2})
	}()
	eventually(t, "the second task queues", func() bool { return f.dispatcher.lanes.Waiting("sockshop-staging/carts") == 1 })
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
