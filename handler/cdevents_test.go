package handler

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	cdeventsapi "github.com/cdevents/sdk-go/pkg/api"
	cdeventsv04 "github.com/cdevents/sdk-go/pkg/api/v04"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/golang/mock/gomock"
	"github.com/nats-io/nats.go"

	"github.com/helm-service/helm-service/handler/mocks"
	"github.com/helm-service/helm-service/pkg/cdevents"
	"github.com/helm-service/helm-service/pkg/helm"
)

// TestDeploymentsPublishCDEvents deploys a service three times through the
// dispatcher on a real NATS server: the first deployment yields exactly one
// service.deployed, a failed one none, and the next one exactly one
// service.upgraded, each on its subject, valid against the CDEvents schema.
func TestDeploymentsPublishCDEvents(t *testing.T) {
	rig := newNATSRig(t, "dev.cdevents.>")
	var subjects []string
	if _, err := rig.nc.Subscribe("dev.cdevents.>", func(m *nats.Msg) {
		rig.mu.Lock()
		subjects = append(subjects, m.Subject)
		rig.mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}

	ctrl := gomock.NewController(t)
	src, nss, rels := mocks.NewMockChartSource(ctrl), mocks.NewMockNamespaces(ctrl), mocks.NewMockReleases(ctrl)
	src.EXPECT().Load(gomock.Any(), gomock.Any()).Return(testChart(), nil).Times(3)
	nss.EXPECT().Ensure(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil).Times(3)
	gomock.InOrder(
		rels.EXPECT().Get(gomock.Any(), "sockshop-staging", "carts").Return(nil, helm.ErrNotFound),
		rels.EXPECT().Upgrade(gomock.Any(), gomock.Any()).Return(&helm.Result{Namespace: "sockshop-staging", Name: "carts", Revision: 1, Images: []string{"carts:1"}}, nil),
		rels.EXPECT().Get(gomock.Any(), "sockshop-staging", "carts").Return(&helm.Record{}, nil),
		rels.EXPECT().Upgrade(gomock.Any(), gomock.Any()).Return(nil, errors.New("helm upgrade of release sockshop-staging/carts: timed out waiting for the condition")),
		rels.EXPECT().Get(gomock.Any(), "sockshop-staging", "carts").Return(&helm.Record{}, nil),
		rels.EXPECT().Upgrade(gomock.Any(), gomock.Any()).Return(&helm.Result{Namespace: "sockshop-staging", Name: "carts", Revision: 3, Images: []string{"registry.example.com/shop/carts:2", "sidecar:1"}}, nil),
	)
	scaler := mocks.NewMockScaler(ctrl)
	scaler.EXPECT().Kept(gomock.Any(), gomock.Any()).Return(nil, nil).AnyTimes()
	d := NewDispatcher("helm-service", rig.bus, quiet, []Task{NewDeployment(src, nss, rels, mocks.NewMockRouter(ctrl), scaler, settings)}, Options{CDEvents: &CDEventsOptions{Source: "helm-service", SubjectPrefix: "dev.cdevents"}})
	rig.serve(t, d)

	cdEvents := func() []cloudevents.Event {
		var out []cloudevents.Event
		for _, typ := range []string{cdeventsv04.ServiceDeployedEventType.String(), cdeventsv04.ServiceUpgradedEventType.String(),
			cdeventsv04.ServiceRolledbackEventType.String(), cdeventsv04.ServiceRemovedEventType.String()} {
			out = append(out, rig.ofType(typ)...)
		}
		return out
	}
	for i, want := range []struct {
		kind     string
		artifact string
	}{
		{"deployed", "pkg:oci/carts?repository_url=docker.io%2Flibrary%2Fcarts&tag=1"},
		{"", ""}, // the failed deployment
		{"upgraded", "pkg:oci/carts?repository_url=registry.example.com%2Fshop%2Fcarts&tag=2"},
	} {
		trigger := triggerEvent(t, validTrigger())
		trigger.SetID(fmt.Sprintf("trigger-%d", i))
		rig.send(t, trigger)
		if want.kind == "" {
			continue
		}
		eventually(t, "the CDEvent of "+trigger.ID(), func() bool { return len(cdEvents()) >= 1+i/2 })
		got := cdEvents()
		if len(got) != 1+i/2 {
			t.Fatalf("after trigger %d: %d CDEvents, want %d", i, len(got), 1+i/2)
		}
		e := got[len(got)-1]
		ev, err := cdeventsv04.NewFromJsonBytes(e.Data())
		if err != nil {
			t.Fatalf("CDEvent %s: %v", e.Data(), err)
		}
		if err := cdeventsapi.Validate(ev); err != nil {
			t.Errorf("CDEvent not valid: %v: %s", err, e.Data())
		}
		if ev.GetType().Predicate != want.kind || ev.GetSubjectId() != "carts" || ev.GetChainId() != "keptn-context" || e.Extensions()[cdevents.ExtContext] != "keptn-context" {
			t.Errorf("CDEvent %s, want service.%s of carts in chain keptn-context", e.Data(), want.kind)
		}
		var data struct {
			Subject struct {
				Content struct {
					ArtifactID  string              `json:"artifactId"`
					Environment struct{ ID string } `json:"environment"`
				} `json:"content"`
			} `json:"subject"`
			CustomData cdevents.Keptn `json:"customData"`
		}
		if err := json.Unmarshal(e.Data(), &data); err != nil {
			t.Fatal(err)
		}
		if data.Subject.Content.ArtifactID != want.artifact || data.Subject.Content.Environment.ID != "sockshop-staging" ||
			data.CustomData.TriggeredID != trigger.ID() || data.CustomData.Project != "sockshop" || data.CustomData.Stage != "staging" {
			t.Errorf("CDEvent of %s: %s", trigger.ID(), e.Data())
		}
	}
	eventually(t, "both CDEvents seen on their subjects", func() bool {
		rig.mu.Lock()
		defer rig.mu.Unlock()
		return len(subjects) >= 2
	})
	rig.mu.Lock()
	defer rig.mu.Unlock()
	if want := []string{"dev.cdevents.service.deployed", "dev.cdevents.service.upgraded"}; fmt.Sprint(subjects) != fmt.Sprint(want) {
		t.Errorf("CDEvents on subjects %v, want %v", subjects, want)
	}
}
