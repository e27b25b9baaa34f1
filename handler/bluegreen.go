package handler

import (
	"context"
	"errors"
	"fmt"

	"helm.sh/helm/v3/pkg/chart"

	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
	"github.com/helm-service/helm-service/pkg/routing"
)

// deployBlueGreen deploys the new version as the canary of the service. On
// the first deployment the primary gets the same version first. The stable
// endpoint then routes per the route mode: all to the canary, or (dark)
// all to the primary.
func (d *Deployment) deployBlueGreen(ctx context.Context, t Trigger, in *events.DeploymentTriggered, ch *chart.Chart, gitCommit string, values map[string]any, namespace string, target map[string]string, rollout kube.Rollout, vars *helm.VariablesPostRenderer, changedVars []string) (events.Finished, error) {
	request := func(side string) helm.Request {
		name := primaryName(in.Service)
		if side == sideCanary {
			name = canaryName(in.Service)
		}
		return helm.Request{
			Namespace:    namespace,
			Name:         name,
			Chart:        ch,
			Values:       values,
			Labels:       blueGreenLabels(target, side),
			ObjectLabels: objectLabels(in.Service, side),
			Timeout:      d.settings.WaitTimeout,
			Rollout:      rollout,
			Variables:    vars,
		}
	}

	var primaryServices []helm.Service
	primary, err := d.releases.Get(ctx, namespace, primaryName(in.Service))
	switch {
	case errors.Is(err, helm.ErrNotFound):
		t.Log.Info("first blue/green deployment: installing the primary", "namespace", namespace, "release", primaryName(in.Service))
		res, err := d.releases.Upgrade(ctx, request(sidePrimary))
		if err != nil {
			return nil, fmt.Errorf("first deployment of %s: the primary: %w", in.Service, err)
		}
		primaryServices = res.Services
	case err != nil:
		return nil, err
	default:
		primaryServices = primary.Services
	}

	// A promoted or rolled back canary was scaled to zero; the upgrade
	// restores the replicas its chart sets, and this those it leaves unset.
	switch canary, err := d.releases.Get(ctx, namespace, canaryName(in.Service)); {
	case errors.Is(err, helm.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		if err := d.scaler.ScaleUpFromZero(ctx, canary.Workloads); err != nil {
			return nil, fmt.Errorf("canary of %s: %w", in.Service, err)
		}
	}

	t.Log.Info("deploying canary", "namespace", namespace, "release", canaryName(in.Service), "chart", ch.Metadata.Name, "chartVersion", ch.Metadata.Version)
	canary, err := d.releases.Upgrade(ctx, request(sideCanary))
	if err != nil {
		return nil, fmt.Errorf("canary of %s: %w", in.Service, err)
	}

	side, split, services := sideCanary, routing.AllCanary, canary.Services
	if d.settings.RouteMode == RouteModeDark {
		side, split, services = sidePrimary, routing.AllPrimary, primaryServices
	}
	rt, err := routeTarget(in.Service, namespace, side, services)
	if err != nil {
		return nil, err
	}
	if err := d.router.Route(ctx, rt, split); err != nil {
		return nil, fmt.Errorf("the canary of %s is ready, but routing failed: %w", in.Service, err)
	}
	t.recordChange(installedOrUpgraded(canary.Revision), namespace, in.Service, canary.Images)

	// Tests hit the stable endpoint when it routes to the canary, else the
	// canary's own Service.
	uris := localURIs(canary)
	if s, ok := canary.MainService(); ok && d.settings.RouteMode != RouteModeDark {
		for _, b := range rt.Backends {
			if b.Canary == s.Name {
				uris = []string{fmt.Sprintf("http://%s.%s:%d", b.Stable, s.Namespace, s.Port)}
			}
		}
	}
	out := &events.DeploymentFinished{Deployment: &events.Deployment{
		DeploymentStrategy:   string(events.StrategyBlueGreen),
		DeploymentURIsLocal:  uris,
		DeploymentURIsPublic: []string{d.publicURI(in.Common, namespace)},
		DeploymentNames:      []string{sideCanary},
		GitCommit:            gitCommit,
		Namespace:            namespace,
		ReleaseName:          canary.Name,
		HelmRevision:         canary.Revision,
		Rollout:              rolloutReport(rollout, canary.ForcedRecreate),
		ChangedVariables:     changedVars,
	}}
	out.Message = fmt.Sprintf("canary %s/%s is at revision %d (chart %s-%s) and ready; the stable endpoint routes %s (route mode %s)",
		namespace, canary.Name, canary.Revision, ch.Metadata.Name, ch.Metadata.Version, split, d.settings.RouteMode)
	out.Message = withForcedRecreate(out.Message, canary.ForcedRecreate)
	return out, nil
}
