package deployed

import (
	"context"
	"fmt"

	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
	"github.com/helm-service/helm-service/pkg/routing"
)

// Keeper reads the replica counts a scaling recorded on workloads
// (kube.Scaler is one).
type Keeper interface {
	Kept(ctx context.Context, workloads []kube.Workload) (map[kube.Workload]int32, error)
}

// KeptReplicas returns the replica counts scaling recorded on the
// workloads of a release, for the next deployment of the release to keep.
// A nil record keeps none.
func KeptReplicas(ctx context.Context, k Keeper, rec *helm.Record) (map[kube.Workload]int32, error) {
	if rec == nil || len(rec.Workloads) == 0 {
		return nil, nil
	}
	kept, err := k.Kept(ctx, rec.Workloads)
	if err != nil {
		return nil, fmt.Errorf("replicas set by scaling on release %s/%s: %w", rec.Namespace, rec.Name, err)
	}
	return kept, nil
}

// Target is what routes the traffic of a blue/green service: its stable
// endpoints, named after the primary's Services.
func (s *Service) Target() (routing.Target, error) {
	if s.Primary == nil {
		return routing.Target{Namespace: s.Namespace, Service: s.Name}, fmt.Errorf("no release %s/%s", s.Namespace, PrimaryName(s.Name))
	}
	return RouteTarget(s.Namespace, s.Name, Primary, s.Primary.Services)
}

// RouteTarget pairs the Services of one side's release of blue/green
// service with their stable names and the other side's names.
func RouteTarget(namespace, service string, side Side, services []helm.Service) (routing.Target, error) {
	release := ReleaseName(service, side)
	t := routing.Target{Namespace: namespace, Service: service}
	for _, s := range services {
		b, ok := routing.BlueGreenBackend(service, PrimaryName(service), CanaryName(service), release, s.Name, s.Port)
		if !ok {
			return t, fmt.Errorf("the chart's Service %s in release %s is not named after the release: blue/green needs every object's name to start with .Release.Name so that primary and canary do not collide", s.Name, release)
		}
		t.Backends = append(t.Backends, b)
	}
	if len(t.Backends) == 0 {
		return t, fmt.Errorf("release %s/%s has no Service: blue/green routes traffic through the chart's Services", namespace, release)
	}
	return t, nil
}
