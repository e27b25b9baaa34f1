package handler

import (
	"context"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"helm.sh/helm/v3/pkg/chart"

	"github.com/helm-service/helm-service/pkg/charts"
	"github.com/helm-service/helm-service/pkg/helm"
)

// The collaborators of the handlers. Implementations live in eventbus and
// pkg/*; mocks for unit tests are generated into mocks/.
//go:generate go run github.com/golang/mock/mockgen@v1.6.0 -source=interfaces.go -destination=mocks/mocks.go -package=mocks

// Publisher sends events on the bus.
type Publisher interface {
	Publish(ctx context.Context, e cloudevents.Event) error
}

// ChartSource finds the chart of a service.
type ChartSource interface {
	Load(ctx context.Context, ref charts.Ref) (*chart.Chart, error)
}

// Releases installs and upgrades Helm releases.
type Releases interface {
	Upgrade(ctx context.Context, req helm.Request) (*helm.Result, error)
}

// Namespaces prepares the namespace a release goes into.
type Namespaces interface {
	Ensure(ctx context.Context, name string, labels map[string]string) error
}
