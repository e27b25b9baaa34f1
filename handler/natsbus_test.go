package handler

import (
	"context"
	"testing"
	"time"

	"github.com/golang/mock/gomock"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/helm-service/helm-service/eventbus"
	"github.com/helm-service/helm-service/handler/mocks"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/ledger"
)

// tasksBucket is the ledger's bucket on bus.
func tasksBucket(t *testing.T, bus *eventbus.Bus) jetstream.KeyValue {
	t.Helper()
	kv, err := bus.KeyValue(context.Background(), "tasks", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// deployOnce subscribes to bus a dispatcher of the deployment task whose
// chart, namespace and release are mocks expecting one deployment of
// carts in sockshop-staging, with its ledger in kv.
func deployOnce(t *testing.T, bus *eventbus.Bus, kv jetstream.KeyValue) {
	t.Helper()
	ctrl := gomock.NewController(t)
	src, nss, rels := mocks.NewMockChartSource(ctrl), mocks.NewMockNamespaces(ctrl), mocks.NewMockReleases(ctrl)
	src.EXPECT().Load(gomock.Any(), gomock.Any()).Return(testChart(), nil).Times(1)
	nss.EXPECT().Ensure(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil).Times(1)
	rels.EXPECT().Get(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil, helm.ErrNotFound).AnyTimes() // nothing deployed yet
	rels.EXPECT().Upgrade(gomock.Any(), gomock.Any()).Return(&helm.Result{Namespace: "sockshop-staging", Name: "carts", Revision: 1}, nil).Times(1)
	d := NewDispatcher("helm-service", bus, quiet, []Task{NewDeployment(src, nss, rels, mocks.NewMockRouter(ctrl), mocks.NewMockScaler(ctrl), settings)}, Options{Ledger: ledger.New(kv)})
	if err := bus.Subscribe(context.Background(), d.Subjects(), "helm-service", d.Handle); err != nil {
		t.Fatal(err)
	}
}
