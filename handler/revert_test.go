package handler

import (
	"context"
	"strings"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/golang/mock/gomock"

	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
	"github.com/helm-service/helm-service/pkg/routing"
)

// revertEvent is a release or rollback trigger; without keptnContext it
// carries no shkeptncontext.
func revertEvent(t *testing.T, task, result, keptnContext string) *cloudevents.Event {
	e := triggerEvent(t, lifecycleEvent(t, task, result))
	e.SetType(events.Type(task, events.PhaseTriggered))
	if keptnContext == "" {
		e.SetExtension(events.ExtContext, nil)
	} else {
		e.SetExtension(events.ExtContext, keptnContext)
	}
	return e
}

// TestRevertLeavesANewerSequencesCanary: a failed release or a rollback of
// a sequence whose canary a newer sequence has replaced changes nothing:
// the newer canary keeps its traffic and its replicas.
func TestRevertLeavesANewerSequencesCanary(t *testing.T) {
	newer := withContext(canaryV2, "newer-sequence")
	for _, c := range []struct{ task, result string }{{"rollback", ""}, {"release", "fail"}} {
		t.Run(c.task, func(t *testing.T) {
			f := newFixture(t) // no Route, no Scale expected: any call fails the test
			f.releases.EXPECT().Find(gomock.Any(), ns, gomock.Any()).Return([]*helm.Record{primaryV1, newer}, nil).Times(2)
			f.deliver(revertEvent(t, c.task, c.result, "older-sequence"))
			common, outcome := lifecycleAnswer(t, f.published, c.task)
			if common.Status != events.StatusSucceeded || outcome == nil || outcome.Action != events.ActionNone {
				t.Fatalf("finished %s %q, outcome %+v; want succeeded with action none", common.Status, common.Message, outcome)
			}
			for _, want := range []string{"nothing to roll back", "canary revision 2 of release sockshop-staging/carts-canary was made by sequence newer-sequence", "older-sequence"} {
				if !strings.Contains(common.Message, want) {
					t.Errorf("message %q does not say %q", common.Message, want)
				}
			}
		})
	}
}

// TestRevertWithoutContext: a trigger without shkeptncontext is refused
// when the revision it would undo names its sequence, and reverts as
// before when the revision names none.
func TestRevertWithoutContext(t *testing.T) {
	for _, c := range []struct {
		name    string
		records []*helm.Record
	}{
		{"direct", []*helm.Record{withContext(directV2, "keptn-context")}},
		{"blue/green", []*helm.Record{primaryV1, withContext(canaryV2, "keptn-context")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.releases.EXPECT().Find(gomock.Any(), ns, gomock.Any()).Return(c.records, nil).Times(2)
			f.deliver(revertEvent(t, "rollback", "", ""))
			common, outcome := lifecycleAnswer(t, f.published, "rollback")
			if common.Status != events.StatusErrored || outcome != nil {
				t.Fatalf("finished %s %q, want errored", common.Status, common.Message)
			}
			for _, want := range []string{"shkeptncontext is missing", "made by sequence keptn-context"} {
				if !strings.Contains(common.Message, want) {
					t.Errorf("message %q does not say %q", common.Message, want)
				}
			}
		})
	}
	t.Run("revision without a sequence", func(t *testing.T) {
		f := newFixture(t)
		f.releases.EXPECT().Find(gomock.Any(), ns, gomock.Any()).Return([]*helm.Record{directV2}, nil).Times(2)
		f.releases.EXPECT().Rollback(gomock.Any(), ns, "carts", gomock.Any()).Return(&helm.Result{Namespace: ns, Name: "carts", Revision: 3, RolledBackTo: 1}, nil)
		f.deliver(revertEvent(t, "rollback", "", ""))
		if common, outcome := lifecycleAnswer(t, f.published, "rollback"); common.Status != events.StatusSucceeded || outcome.Action != events.ActionRolledBack {
			t.Errorf("finished %s %q, want rolled back", common.Status, common.Message)
		}
	})
}

// TestRevertDirectNamesTheRevisionAndTheRecovery: the answer says which
// revision the rollback went back to, and what was recovered first.
func TestRevertDirectNamesTheRevisionAndTheRecovery(t *testing.T) {
	f := newFixture(t)
	current := withContext(directV2, "keptn-context")
	current.Revision = 4
	f.releases.EXPECT().Find(gomock.Any(), ns, gomock.Any()).Return([]*helm.Record{current}, nil).Times(2)
	recovered := "release sockshop-staging/carts was left pending-upgrade at revision 4 by an operation that did not end (1h0m0s ago); helm-service marked it failed and rolled back to revision 2"
	f.releases.EXPECT().Rollback(gomock.Any(), ns, "carts", gomock.Any()).Return(&helm.Result{Namespace: ns, Name: "carts", Revision: 5, RolledBackTo: 2, Recovered: recovered}, nil)
	f.deliver(revertEvent(t, "rollback", "", "keptn-context"))
	common, outcome := lifecycleAnswer(t, f.published, "rollback")
	if common.Status != events.StatusSucceeded || outcome.HelmRevision != 5 {
		t.Fatalf("finished %s %q, outcome %+v", common.Status, common.Message, outcome)
	}
	for _, want := range []string{recovered, "from revision 4 back to the previous deployed revision, 2", "as revision 5"} {
		if !strings.Contains(common.Message, want) {
			t.Errorf("message %q does not say %q", common.Message, want)
		}
	}
}

// TestRevertScalesOnlyTheReleasesNamespace: a canary record whose manifest
// lists a workload in another namespace does not lead to scaling there.
func TestRevertScalesOnlyTheReleasesNamespace(t *testing.T) {
	f := newFixture(t)
	canary := *canaryV2
	foreign := kube.Workload{Kind: "Deployment", Namespace: "kube-system", Name: "coredns"}
	canary.Workloads = append([]kube.Workload{foreign}, canaryV2.Workloads...)
	f.releases.EXPECT().Find(gomock.Any(), ns, gomock.Any()).Return([]*helm.Record{primaryV1, &canary}, nil).Times(2)
	f.router.EXPECT().Route(gomock.Any(), stableTarget(80), routing.AllPrimary).Return(nil)
	f.router.EXPECT().Split(gomock.Any(), stableTarget(80)).Return(routing.AllPrimary, nil)
	f.scaler.EXPECT().Scale(gomock.Any(), canaryV2.Workloads, int32(0)).Return(nil)
	f.deliver(revertEvent(t, "rollback", "", "keptn-context"))
	if common, outcome := lifecycleAnswer(t, f.published, "rollback"); common.Status != events.StatusSucceeded || outcome.Action != events.ActionRolledBack {
		t.Errorf("finished %s %q, want rolled back", common.Status, common.Message)
	}
}

// TestDeploymentBlueGreenRecordsTheSequence: the canary's release record
// carries the Keptn context of the sequence that deployed it.
func TestDeploymentBlueGreenRecordsTheSequence(t *testing.T) {
	f := newFixture(t)
	f.charts.EXPECT().Load(gomock.Any(), gomock.Any()).Return(testChart(), nil)
	f.namespaces.EXPECT().Ensure(gomock.Any(), ns, gomock.Any()).Return(nil)
	f.releases.EXPECT().Get(gomock.Any(), ns, "carts-primary").Return(primaryV1, nil)
	f.releases.EXPECT().Get(gomock.Any(), ns, "carts-canary").Return(canaryV2, nil)
	f.scaler.EXPECT().ScaleUpFromZero(gomock.Any(), canaryV2.Workloads).Return(nil)
	var labels map[string]string
	f.releases.EXPECT().Upgrade(gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, req helm.Request) (*helm.Result, error) {
		labels = req.Labels
		return &helm.Result{Namespace: ns, Name: req.Name, Revision: 3, Services: []helm.Service{{Name: req.Name, Namespace: ns, Port: 80}}}, nil
	})
	f.router.EXPECT().Route(gomock.Any(), gomock.Any(), routing.AllCanary).Return(nil)
	in := validTrigger()
	in["deployment"] = map[string]any{"deploymentstrategy": "blue_green_service"}
	f.deliver(triggerEvent(t, in))
	if _, data := f.published.finished(t); data.Status != events.StatusSucceeded {
		t.Fatalf("finished %s: %s", data.Status, data.Message)
	}
	if labels[kube.LabelContext] != "keptn-context" || labels[kube.LabelDeployment] != "canary" {
		t.Errorf("canary release labels = %v, want %s=keptn-context", labels, kube.LabelContext)
	}
}
