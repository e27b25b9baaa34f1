package handler

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang/mock/gomock"

	"github.com/helm-service/helm-service/handler/mocks"
	"github.com/helm-service/helm-service/pkg/charts"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
	"github.com/helm-service/helm-service/pkg/routing"
)

// withAction replaces the fixture's dispatcher with one that runs only the
// scaling action, with these settings.
func (f *fixture) withAction(s ActionSettings) *fixture {
	pub := mocks.NewMockPublisher(f.ctrl)
	f.published = &recorder{}
	f.published.expect(pub)
	act := NewAction(f.releases, f.router, f.scaler, s)
	f.pub, f.tasks = pub, []Task{act}
	f.dispatcher = NewDispatcher("helm-service", pub, quiet, f.tasks, Options{})
	return f
}

var scalingSettings = ActionSettings{MaxReplicas: 10, WaitTimeout: time.Minute, RouteMode: RouteModeCanary}

// TestScalingRefusesPastMaxReplicas: a positive increment on a workload at
// MAX_REPLICAS (or above it) changes nothing and says why.
func TestScalingRefusesPastMaxReplicas(t *testing.T) {
	for _, current := range []int32{10, 12} {
		t.Run(fmt.Sprint(current), func(t *testing.T) {
			f := newFixture(t).withAction(scalingSettings)
			w := directV2.Workloads[0]
			f.releases.EXPECT().Find(gomock.Any(), ns, gomock.Any()).Return([]*helm.Record{directV2}, nil)
			f.scaler.EXPECT().Autoscaler(gomock.Any(), w).Return("", nil)
			f.scaler.EXPECT().Replicas(gomock.Any(), w).Return(current, nil)
			f.deliver(scalingEvent(t, "+1"))
			out := actionAnswer(t, f.published)
			want := fmt.Sprintf("it runs %d replicas, MAX_REPLICAS is 10, and scaling by +1 asks for %d", current, current+1)
			if out.Status != events.StatusErrored || !strings.Contains(out.Message, want) || !strings.Contains(out.Message, "deployment sockshop-staging/carts") {
				t.Errorf("finished %s %q, want errored saying %q", out.Status, out.Message, want)
			}
		})
	}
}

// TestScalingSaysWhenItCappedTheCount: an increment that would go past
// MAX_REPLICAS raises the count to MAX_REPLICAS and says so.
func TestScalingSaysWhenItCappedTheCount(t *testing.T) {
	f := newFixture(t).withAction(scalingSettings)
	w := directV2.Workloads[0]
	f.releases.EXPECT().Find(gomock.Any(), ns, gomock.Any()).Return([]*helm.Record{directV2}, nil)
	f.scaler.EXPECT().Autoscaler(gomock.Any(), w).Return("", nil)
	f.scaler.EXPECT().Replicas(gomock.Any(), w).Return(int32(8), nil)
	f.scaler.EXPECT().ScaleBy(gomock.Any(), w, int32(5), int32(10)).Return(kube.Change{Workload: w, From: 8, To: 10}, nil)
	f.scaler.EXPECT().WaitScaled(gomock.Any(), directV2.Workloads).Return(nil)
	f.deliver(scalingEvent(t, 5))
	out := actionAnswer(t, f.published)
	if out.Status != events.StatusSucceeded || !strings.Contains(out.Message, "from 8 to 10 (capped at MAX_REPLICAS 10; +5 asked for 13)") {
		t.Errorf("finished %s %q, want it to say the count was capped", out.Status, out.Message)
	}
}

// TestScalingALiveCanaryScalesBothSides: with ROUTE_MODE=canary and a
// canary that receives traffic, both the canary and the primary are scaled.
func TestScalingALiveCanaryScalesBothSides(t *testing.T) {
	f := newFixture(t).withAction(scalingSettings)
	pw, cw := primaryV1.Workloads[0], canaryV2.Workloads[0]
	f.releases.EXPECT().Find(gomock.Any(), ns, gomock.Any()).Return([]*helm.Record{primaryV1, canaryV2}, nil)
	f.router.EXPECT().Split(gomock.Any(), stableTarget(80)).Return(routing.AllCanary, nil)
	f.scaler.EXPECT().Replicas(gomock.Any(), cw).Return(int32(2), nil).MinTimes(1)
	f.scaler.EXPECT().Replicas(gomock.Any(), pw).Return(int32(3), nil)
	f.scaler.EXPECT().Autoscaler(gomock.Any(), gomock.Any()).Return("", nil).Times(2)
	f.scaler.EXPECT().ScaleBy(gomock.Any(), cw, int32(1), int32(10)).Return(kube.Change{Workload: cw, From: 2, To: 3}, nil)
	f.scaler.EXPECT().ScaleBy(gomock.Any(), pw, int32(1), int32(10)).Return(kube.Change{Workload: pw, From: 3, To: 4}, nil)
	f.scaler.EXPECT().WaitScaled(gomock.Any(), []kube.Workload{cw, pw}).Return(nil)
	f.deliver(scalingEvent(t, 1))
	out := actionAnswer(t, f.published)
	if out.Status != events.StatusSucceeded || out.Scaling == nil || out.Scaling.ReleaseName != "carts-canary" || len(out.Scaling.Workloads) != 2 {
		t.Fatalf("finished %s %q, scaling %+v; want both sides scaled, the canary named", out.Status, out.Message, out.Scaling)
	}
	for _, want := range []string{"canary sockshop-staging/carts-canary receives traffic", "deployment sockshop-staging/carts-canary from 2 to 3", "deployment sockshop-staging/carts-primary from 3 to 4"} {
		if !strings.Contains(out.Message, want) {
			t.Errorf("message %q does not say %q", out.Message, want)
		}
	}
}

// TestScalingACanaryWithoutTraffic: the primary alone is scaled when the
// canary gets no traffic, has no replicas, or the route mode is dark.
func TestScalingACanaryWithoutTraffic(t *testing.T) {
	pw, cw := primaryV1.Workloads[0], canaryV2.Workloads[0]
	dark := scalingSettings
	dark.RouteMode = RouteModeDark
	cases := []struct {
		name     string
		settings ActionSettings
		expect   func(f *fixture)
	}{
		{"traffic on the primary", scalingSettings, func(f *fixture) {
			f.router.EXPECT().Split(gomock.Any(), stableTarget(80)).Return(routing.AllPrimary, nil)
		}},
		{"canary scaled to zero", scalingSettings, func(f *fixture) {
			f.router.EXPECT().Split(gomock.Any(), stableTarget(80)).Return(routing.AllCanary, nil)
			f.scaler.EXPECT().Replicas(gomock.Any(), cw).Return(int32(0), nil)
		}},
		{"dark mode", dark, func(*fixture) {}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t).withAction(c.settings)
			f.releases.EXPECT().Find(gomock.Any(), ns, gomock.Any()).Return([]*helm.Record{primaryV1, canaryV2}, nil)
			c.expect(f)
			f.scaler.EXPECT().Autoscaler(gomock.Any(), pw).Return("", nil)
			f.scaler.EXPECT().Replicas(gomock.Any(), pw).Return(int32(2), nil)
			f.scaler.EXPECT().ScaleBy(gomock.Any(), pw, int32(1), int32(10)).Return(kube.Change{Workload: pw, From: 2, To: 3}, nil)
			f.scaler.EXPECT().WaitScaled(gomock.Any(), primaryV1.Workloads).Return(nil)
			f.deliver(scalingEvent(t, 1))
			if out := actionAnswer(t, f.published); out.Status != events.StatusSucceeded || out.Scaling.ReleaseName != "carts-primary" || len(out.Scaling.Workloads) != 1 {
				t.Errorf("finished %s %q, scaling %+v; want the primary alone scaled", out.Status, out.Message, out.Scaling)
			}
		})
	}
}

// TestScalingOnlyInTheReleasesNamespace: a workload the release record
// lists in another namespace is not scaled, and the answer says so.
func TestScalingOnlyInTheReleasesNamespace(t *testing.T) {
	f := newFixture(t).withAction(scalingSettings)
	rec := *directV2
	foreign := kube.Workload{Kind: "Deployment", Namespace: "kube-system", Name: "coredns"}
	rec.Workloads = []kube.Workload{foreign, directV2.Workloads[0]}
	w := directV2.Workloads[0]
	f.releases.EXPECT().Find(gomock.Any(), ns, gomock.Any()).Return([]*helm.Record{&rec}, nil)
	f.scaler.EXPECT().Autoscaler(gomock.Any(), w).Return("", nil)
	f.scaler.EXPECT().Replicas(gomock.Any(), w).Return(int32(2), nil)
	f.scaler.EXPECT().ScaleBy(gomock.Any(), w, int32(1), int32(10)).Return(kube.Change{Workload: w, From: 2, To: 3}, nil)
	f.scaler.EXPECT().WaitScaled(gomock.Any(), []kube.Workload{w}).Return(nil)
	f.deliver(scalingEvent(t, 1))
	out := actionAnswer(t, f.published)
	if out.Status != events.StatusSucceeded || len(out.Scaling.Workloads) != 1 || !strings.Contains(out.Message, "not scaled: deployment kube-system/coredns") {
		t.Errorf("finished %s %q, scaling %+v; want carts alone scaled and coredns named as not scaled", out.Status, out.Message, out.Scaling)
	}
}

// TestDeploymentDropsAKeptCountAnAutoscalerOwns: a count kept from a
// scaling is not applied to a workload an HPA now targets; its record is
// removed and the answer says so.
func TestDeploymentDropsAKeptCountAnAutoscalerOwns(t *testing.T) {
	f := newFixture(t)
	f.charts.EXPECT().Load(gomock.Any(), charts.Ref{Project: "sockshop", Stage: "staging", Service: "carts"}).Return(testChart(), nil)
	f.namespaces.EXPECT().Ensure(gomock.Any(), ns, gomock.Any()).Return(nil)
	live := kube.Workload{Kind: "Deployment", Namespace: ns, Name: "carts"}
	f.releases.EXPECT().Get(gomock.Any(), ns, "carts").Return(&helm.Record{Result: helm.Result{Namespace: ns, Name: "carts", Workloads: []kube.Workload{live}}}, nil)
	f.scaler.EXPECT().Kept(gomock.Any(), []kube.Workload{live}).Return(map[kube.Workload]int32{live: 5}, nil)
	f.scaler.EXPECT().Autoscaler(gomock.Any(), live).Return("carts-hpa", nil)
	upgrade := f.releases.EXPECT().Upgrade(gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, req helm.Request) (*helm.Result, error) {
		if len(req.Replicas) != 0 {
			t.Errorf("replicas %v applied to a workload an autoscaler owns", req.Replicas)
		}
		return &helm.Result{Namespace: ns, Name: "carts", Revision: 3}, nil
	})
	f.scaler.EXPECT().DropKept(gomock.Any(), live).Return(nil).After(upgrade)
	f.deliver(triggerEvent(t, validTrigger()))
	_, data := f.published.finished(t)
	want := "dropped the replica count kept from a scaling on deployment sockshop-staging/carts (5): HorizontalPodAutoscaler sockshop-staging/carts-hpa now targets it"
	if data.Status != events.StatusSucceeded || !strings.Contains(data.Message, want) {
		t.Errorf("finished %s %q, want it to say %q", data.Status, data.Message, want)
	}
}
