package handler

import (
	"context"
	"testing"

	"github.com/golang/mock/gomock"

	"github.com/helm-service/helm-service/eventbus"
	"github.com/helm-service/helm-service/handler/mocks"
)

// BenchmarkIgnoreOwnEvent measures routing an event that helm-service
// ignores (its own), the most frequent event on a busy bus.
func BenchmarkIgnoreOwnEvent(b *testing.B) {
	ctrl := gomock.NewController(b)
	d := NewDispatcher("helm-service", mocks.NewMockPublisher(ctrl), quiet, []Task{NewDeployment(mocks.NewMockChartSource(ctrl), nil, nil, nil, nil, settings)}, Options{})
	e := triggerEvent(b, validTrigger())
	e.SetSource("helm-service")
	del := eventbus.Delivery{Subject: e.Type(), Event: e}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		d.Handle(ctx, del)
	}
}
