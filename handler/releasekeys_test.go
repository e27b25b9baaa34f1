package handler

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/mock/gomock"

	"github.com/helm-service/helm-service/eventbus"
	"github.com/helm-service/helm-service/pkg/deployed"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/lanes"
	"github.com/helm-service/helm-service/pkg/lease"
)

func blueGreenTrigger() map[string]any {
	in := validTrigger()
	in["deployment"] = map[string]any{"deploymentstrategy": "blue_green_service"}
	return in
}

// TestDirectAndBlueGreenServicesSharingAReleaseNeverRunAtOnce: a direct
// service carts-primary and the blue/green service carts both name the Helm
// release carts-primary. Their tasks must take that release's place in the
// queue, not one per service.
func TestDirectAndBlueGreenServicesSharingAReleaseNeverRunAtOnce(t *testing.T) {
	f := newFixture(t)
	// Nothing is deployed as far as either task can tell, so neither refuses
	// the other's name: only the queue keeps them apart.
	f.releases.EXPECT().Get(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil, helm.ErrNotFound).AnyTimes()
	f.charts.EXPECT().Load(gomock.Any(), gomock.Any()).Return(testChart(), nil).AnyTimes()
	f.namespaces.EXPECT().Ensure(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil).AnyTimes()
	f.router.EXPECT().Route(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil).AnyTimes()
	var inside atomic.Int32
	var overlapped atomic.Bool
	f.releases.EXPECT().Upgrade(gomock.Any(), gomock.Any()).DoAndReturn(func(ctx context.Context, req helm.Request) (*helm.Result, error) {
		if req.Name == "carts-primary" {
			if inside.Add(1) > 1 {
				overlapped.Store(true)
			}
			// Stay long enough for the other task to come in, if it may.
			for deadline := time.Now().Add(300 * time.Millisecond); time.Now().Before(deadline) && inside.Load() < 2; {
				time.Sleep(5 * time.Millisecond)
			}
			inside.Add(-1)
		}
		return upgradeResult(ctx, req)
	}).AnyTimes()

	var wg sync.WaitGroup
	for i, data := range []map[string]any{blueGreenTrigger(), directTrigger("carts-primary")} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.dispatcher.Handle(context.Background(), deliveryOfData(t, data, fmt.Sprint("t-", i), uint64(i+1)))
		}()
	}
	wg.Wait()
	if overlapped.Load() {
		t.Error("the blue/green deployment of carts and the direct deployment of carts-primary upgraded release carts-primary at once")
	}
	if got := f.published.finishedByID(t); len(got["t-0"]) != 1 || len(got["t-1"]) != 1 {
		t.Errorf("answers %v, want one .finished each", got)
	}
}

// TestBlueGreenDeploymentTakesTheLeaseOfEachReleaseInOrder: another replica
// works on carts-primary. A blue/green deployment of carts, which upgrades
// carts-primary and carts-canary, waits for it, holding the lease of
// carts-canary (the first in order) meanwhile.
func TestBlueGreenDeploymentTakesTheLeaseOfEachReleaseInOrder(t *testing.T) {
	locks, _ := buckets(t)
	f := newFixture(t)
	f.redispatch(Options{Leases: lease.New(locks, "replica-0", 3*time.Second, quiet)})
	other := lease.New(locks, "replica-1", 3*time.Second, quiet)
	ctx := context.Background()
	held, err := other.Acquire(ctx, "sockshop-staging/carts-primary")
	if err != nil {
		t.Fatal(err)
	}
	var released atomic.Bool
	f.releases.EXPECT().Get(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil, helm.ErrNotFound).AnyTimes()
	f.charts.EXPECT().Load(gomock.Any(), gomock.Any()).Return(testChart(), nil)
	f.namespaces.EXPECT().Ensure(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil)
	f.router.EXPECT().Route(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil)
	f.releases.EXPECT().Upgrade(gomock.Any(), gomock.Any()).DoAndReturn(func(ctx context.Context, req helm.Request) (*helm.Result, error) {
		if !released.Load() {
			t.Errorf("upgraded %s while another replica held the lease of sockshop-staging/carts-primary", req.Name)
		}
		return upgradeResult(ctx, req)
	}).Times(2)

	done := make(chan struct{})
	go func() {
		defer close(done)
		f.dispatcher.Handle(ctx, deliveryOfData(t, blueGreenTrigger(), "bg", 1))
	}()
	eventually(t, "the deployment holds the lease of carts-canary", func() bool {
		l, err := other.TryAcquire(ctx, "sockshop-staging/carts-canary")
		if err == nil {
			_ = l.Release(ctx)
		}
		return errors.Is(err, lease.ErrHeld)
	})
	time.Sleep(300 * time.Millisecond)
	released.Store(true)
	if err := held.Release(ctx); err != nil {
		t.Fatal(err)
	}
	<-done
	if _, data := f.published.finished(t); data.Status != events.StatusSucceeded {
		t.Errorf("finished %s: %s", data.Status, data.Message)
	}
}

// TestServiceDeleteTakesTheLeaseOfEachRelease: removing a service waits for
// another replica that works on one of its releases.
func TestServiceDeleteTakesTheLeaseOfEachRelease(t *testing.T) {
	locks, _ := buckets(t)
	f := newFixture(t)
	f.redispatch(Options{Leases: lease.New(locks, "replica-0", 3*time.Second, quiet)})
	other := lease.New(locks, "replica-1", 3*time.Second, quiet)
	ctx := context.Background()
	held, err := other.Acquire(ctx, "sockshop-staging/carts")
	if err != nil {
		t.Fatal(err)
	}
	var released atomic.Bool
	f.releases.EXPECT().Find(gomock.Any(), helm.AllNamespaces, gomock.Any()).Return([]*helm.Record{directV2}, nil)
	f.releases.EXPECT().Uninstall(gomock.Any(), ns, "carts", gomock.Any()).DoAndReturn(func(context.Context, string, string, time.Duration) error {
		if !released.Load() {
			t.Error("uninstalled sockshop-staging/carts while another replica held its lease")
		}
		return nil
	})
	f.router.EXPECT().Remove(gomock.Any(), ns, "carts").Return(nil, nil)
	f.namespaces.EXPECT().DeleteIfEmpty(gomock.Any(), ns).Return(false, "", nil)

	done := make(chan struct{})
	go func() {
		defer close(done)
		e := deleteEvent(t)
		f.dispatcher.Handle(ctx, eventbus.Delivery{Subject: e.Type(), Event: e, Seq: 1, Attempt: 1})
	}()
	time.Sleep(500 * time.Millisecond)
	released.Store(true)
	if err := held.Release(ctx); err != nil {
		t.Fatal(err)
	}
	<-done
	if _, out := deleteAnswer(t, f.published); out.Status != events.StatusSucceeded {
		t.Errorf("finished %s: %s", out.Status, out.Message)
	}
}

// TestServiceDeleteWaitsInTheQueueOfEachRelease: a removal that arrives
// while a deployment of the service runs in this process uninstalls only
// once the deployment is done, and takes its place in the release's queue
// without holding a slot of the pool, so that a task waiting for one
// (here the only one) is not stuck behind it.
func TestServiceDeleteWaitsInTheQueueOfEachRelease(t *testing.T) {
	f := newFixture(t)
	f.redispatch(Options{MaxParallel: 1})
	var mu sync.Mutex
	var order []string
	note := func(s string) {
		mu.Lock()
		order = append(order, s)
		mu.Unlock()
	}
	unblockFind := make(chan struct{})
	f.releases.EXPECT().Find(gomock.Any(), helm.AllNamespaces, gomock.Any()).DoAndReturn(func(context.Context, string, map[string]string) ([]*helm.Record, error) {
		<-unblockFind
		return []*helm.Record{directV2}, nil
	})
	f.releases.EXPECT().Get(gomock.Any(), ns, "carts").Return(nil, helm.ErrNotFound)
	f.charts.EXPECT().Load(gomock.Any(), gomock.Any()).Return(testChart(), nil)
	f.namespaces.EXPECT().Ensure(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil)
	f.releases.EXPECT().Upgrade(gomock.Any(), gomock.Any()).DoAndReturn(func(ctx context.Context, req helm.Request) (*helm.Result, error) {
		note("upgrade")
		time.Sleep(100 * time.Millisecond)
		note("upgraded")
		return upgradeResult(ctx, req)
	})
	f.releases.EXPECT().Uninstall(gomock.Any(), ns, "carts", gomock.Any()).DoAndReturn(func(context.Context, string, string, time.Duration) error {
		note("uninstall")
		return nil
	})
	f.router.EXPECT().Remove(gomock.Any(), ns, "carts").Return(nil, nil)
	f.namespaces.EXPECT().DeleteIfEmpty(gomock.Any(), ns).Return(false, "", nil)

	ctx := context.Background()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		e := deleteEvent(t)
		f.dispatcher.Handle(ctx, eventbus.Delivery{Subject: e.Type(), Event: e, Seq: 2, Attempt: 1})
	}()
	// The removal holds the only slot while it looks for releases; the
	// deployment (older in the stream) takes its release's place and waits
	// for the slot.
	eventually(t, "the removal runs", func() bool {
		return f.dispatcher.answers.InFlight() == 1
	})
	go func() {
		defer wg.Done()
		f.dispatcher.Handle(ctx, deliveryOfData(t, validTrigger(), "deploy", 1))
	}()
	eventually(t, "the deployment waits for a slot", func() bool { return f.dispatcher.lanes.Running("sockshop-staging/carts") })
	close(unblockFind)
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("the removal and the deployment wait for each other")
	}
	if got := strings.Join(order, ","); got != "upgrade,upgraded,uninstall" {
		t.Errorf("order %s, want the deployment, then the removal", got)
	}
}

// TestBlueGreenDeploymentKeys: a blue/green deployment touches its primary
// and canary (the order of keys is tested in pkg/lanes).
func TestBlueGreenDeploymentKeys(t *testing.T) {
	if got := lanes.Keys("shop", deployed.StrategyReleaseNames("carts", events.StrategyBlueGreen)); strings.Join(got, ",") != "shop/carts-canary,shop/carts-primary" {
		t.Errorf("blue/green deployment keys %v", got)
	}
}
