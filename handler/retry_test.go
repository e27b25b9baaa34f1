package handler

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golang/mock/gomock"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
)

// refused is the error client-go returns while the API server is down.
func refused() error {
	return fmt.Errorf("get namespace sockshop-staging: %w", &url.Error{
		Op: "Get", URL: "https://127.0.0.1:6443/api/v1/namespaces/sockshop-staging",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)},
	})
}

func (f *fixture) retrying(cluster, pending time.Duration) {
	f.redispatch(Options{ClusterRetryTimeout: cluster, PendingRetryTimeout: pending, RetryBackoff: 10 * time.Millisecond})
}

func deployedCarts() *helm.Result {
	return &helm.Result{Namespace: "sockshop-staging", Name: "carts", Revision: 3, Status: "deployed"}
}

func TestUnreachableAPIServerIsWaitedFor(t *testing.T) {
	f := newFixture(t)
	f.retrying(time.Minute, 0)
	f.charts.EXPECT().Load(gomock.Any(), gomock.Any()).Return(testChart(), nil).Times(3)
	gomock.InOrder(
		f.namespaces.EXPECT().Ensure(gomock.Any(), "sockshop-staging", gomock.Any()).Return(refused()).Times(2),
		f.namespaces.EXPECT().Ensure(gomock.Any(), "sockshop-staging", gomock.Any()).Return(nil),
	)
	f.releases.EXPECT().Get(gomock.Any(), "sockshop-staging", "carts").Return(nil, helm.ErrNotFound)
	f.releases.EXPECT().Upgrade(gomock.Any(), gomock.Any()).Return(deployedCarts(), nil)

	f.deliver(triggerEvent(t, validTrigger()))
	_, data := f.published.finished(t)
	if data.Status != events.StatusSucceeded || data.Deployment == nil || data.Deployment.HelmRevision != 3 {
		t.Fatalf(".finished = %+v, want succeeded at revision 3", data)
	}
}

func TestUnreachableAPIServerGivesUpAfterClusterRetryTimeout(t *testing.T) {
	f := newFixture(t)
	f.retrying(300*time.Millisecond, 0)
	f.charts.EXPECT().Load(gomock.Any(), gomock.Any()).Return(testChart(), nil).AnyTimes()
	calls := 0
	f.namespaces.EXPECT().Ensure(gomock.Any(), gomock.Any(), gomock.Any()).DoAndReturn(func(context.Context, string, map[string]string) error {
		calls++
		return apierrors.NewServiceUnavailable("the API server is starting")
	}).MinTimes(2)

	start := time.Now()
	f.deliver(triggerEvent(t, validTrigger()))
	took := time.Since(start)
	_, data := f.published.finished(t)
	if data.Status != events.StatusErrored || data.Result != events.ResultFail {
		t.Fatalf(".finished = %+v, want errored", data.Common)
	}
	for _, want := range []string{"Kubernetes API server was unreachable for", "CLUSTER_RETRY_TIMEOUT 300ms", fmt.Sprintf("gave up after %d attempts", calls), "the API server is starting"} {
		if !strings.Contains(data.Message, want) {
			t.Errorf("message %q does not say %q", data.Message, want)
		}
	}
	if took < 300*time.Millisecond {
		t.Errorf("answered after %s, before CLUSTER_RETRY_TIMEOUT", took)
	}
}

func TestRefusedRequestIsNotRetried(t *testing.T) {
	f := newFixture(t)
	f.retrying(time.Minute, time.Minute)
	f.charts.EXPECT().Load(gomock.Any(), gomock.Any()).Return(testChart(), nil)
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, "sockshop-staging", fmt.Errorf("no RBAC"))
	f.namespaces.EXPECT().Ensure(gomock.Any(), gomock.Any(), gomock.Any()).Return(forbidden).Times(1)

	f.deliver(triggerEvent(t, validTrigger()))
	_, data := f.published.finished(t)
	if data.Status != events.StatusErrored || !strings.Contains(data.Message, "forbidden") {
		t.Fatalf(".finished = %+v, want errored at once with the refusal", data.Common)
	}
}

// TestWaitTimeoutIsNotRetried: a readiness wait that ran out of time is
// a context.DeadlineExceeded, which is a net.Error with Timeout() true like
// a hung API server's; it is answered at once, not run again.
func TestWaitTimeoutIsNotRetried(t *testing.T) {
	f := newFixture(t)
	f.retrying(time.Minute, time.Minute)
	f.charts.EXPECT().Load(gomock.Any(), gomock.Any()).Return(testChart(), nil)
	f.namespaces.EXPECT().Ensure(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil)
	f.releases.EXPECT().Get(gomock.Any(), "sockshop-staging", "carts").Return(nil, helm.ErrNotFound)
	timedOut := fmt.Errorf("helm install of release sockshop-staging/carts: %w; not ready: deployment sockshop-staging/carts: 0 available",
		fmt.Errorf("%w (4s): %w", helm.ErrWaitTimeout, context.DeadlineExceeded))
	f.releases.EXPECT().Upgrade(gomock.Any(), gomock.Any()).Return(nil, timedOut).Times(1)

	f.deliver(triggerEvent(t, validTrigger()))
	_, data := f.published.finished(t)
	if data.Status != events.StatusErrored || !strings.Contains(data.Message, "not ready: deployment sockshop-staging/carts") {
		t.Fatalf(".finished = %+v, want errored at once with the wait's diagnosis", data.Common)
	}
}

func TestYoungPendingReleaseIsRunAgainOnceRecoverable(t *testing.T) {
	f := newFixture(t)
	f.retrying(time.Minute, time.Minute)
	f.charts.EXPECT().Load(gomock.Any(), gomock.Any()).Return(testChart(), nil).Times(2)
	f.namespaces.EXPECT().Ensure(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil).Times(2)
	f.releases.EXPECT().Get(gomock.Any(), "sockshop-staging", "carts").Return(nil, helm.ErrNotFound).Times(2)
	pending := &helm.PendingError{Namespace: "sockshop-staging", Name: "carts", Status: "pending-upgrade", Revision: 2, Age: 9 * time.Second, RecoverAfter: 120 * time.Millisecond, PendingAge: 10 * time.Second}
	var mu sync.Mutex
	var calls []time.Time
	f.releases.EXPECT().Upgrade(gomock.Any(), gomock.Any()).DoAndReturn(func(context.Context, helm.Request) (*helm.Result, error) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, time.Now())
		if len(calls) == 1 {
			return nil, pending
		}
		res := deployedCarts()
		res.Recovered = "release sockshop-staging/carts was left pending-upgrade at revision 2"
		return res, nil
	}).Times(2)

	f.deliver(triggerEvent(t, validTrigger()))
	_, data := f.published.finished(t)
	if data.Status != events.StatusSucceeded || !strings.Contains(data.Message, "left pending-upgrade at revision 2") {
		t.Fatalf(".finished = %+v, want succeeded after the recovery", data.Common)
	}
	if gap := calls[1].Sub(calls[0]); gap < 120*time.Millisecond {
		t.Errorf("ran again after %s, before the pending record was old enough (120ms)", gap)
	}
}

func TestPendingReleaseGivesUpAfterPendingRetryTimeout(t *testing.T) {
	f := newFixture(t)
	f.retrying(time.Minute, 400*time.Millisecond)
	f.charts.EXPECT().Load(gomock.Any(), gomock.Any()).Return(testChart(), nil).AnyTimes()
	f.namespaces.EXPECT().Ensure(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil).AnyTimes()
	f.releases.EXPECT().Get(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil, helm.ErrNotFound).AnyTimes()
	// Another operation keeps the release pending: each look finds a
	// fresh pending record.
	f.releases.EXPECT().Upgrade(gomock.Any(), gomock.Any()).Return(nil, &helm.PendingError{
		Namespace: "sockshop-staging", Name: "carts", Status: "pending-upgrade", Revision: 7, Age: time.Second, RecoverAfter: 50 * time.Millisecond, PendingAge: 2 * time.Second,
	}).MinTimes(3)

	f.deliver(triggerEvent(t, validTrigger()))
	_, data := f.published.finished(t)
	if data.Status != events.StatusErrored {
		t.Fatalf(".finished = %+v, want errored", data.Common)
	}
	for _, want := range []string{"stayed pending", "PENDING_RETRY_TIMEOUT 400ms", "pending-upgrade at revision 7"} {
		if !strings.Contains(data.Message, want) {
			t.Errorf("message %q does not say %q", data.Message, want)
		}
	}
}

func TestWithoutRetryTimeoutsAYoungPendingReleaseIsAnsweredAtOnce(t *testing.T) {
	f := newFixture(t)
	f.charts.EXPECT().Load(gomock.Any(), gomock.Any()).Return(testChart(), nil)
	f.namespaces.EXPECT().Ensure(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil)
	f.releases.EXPECT().Get(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil, helm.ErrNotFound)
	f.releases.EXPECT().Upgrade(gomock.Any(), gomock.Any()).Return(nil, &helm.PendingError{Status: "pending-install", RecoverAfter: time.Hour}).Times(1)
	f.deliver(triggerEvent(t, validTrigger()))
	if _, data := f.published.finished(t); data.Status != events.StatusErrored || !strings.Contains(data.Message, "PENDING_RELEASE_AGE") {
		t.Fatalf(".finished = %+v, want errored naming PENDING_RELEASE_AGE", data.Common)
	}
}
