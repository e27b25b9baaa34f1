// Package charts finds the Helm chart of a service and prepares the values it
// is rendered with.
package charts

import (
	"context"
	"errors"

	"helm.sh/helm/v3/pkg/chart"
)

// Ref names the service whose chart is wanted.
type Ref struct {
	Project string
	Stage   string
	Service string
}

// Source finds and loads the chart of a service. Implementations fetch from a
// directory today; OCI registries and git repositories fit the same interface.
type Source interface {
	Load(ctx context.Context, ref Ref) (*chart.Chart, error)
}

// ErrNotFound is wrapped by Source.Load when the source has no chart for the
// service.
var ErrNotFound = errors.New("chart not found")
