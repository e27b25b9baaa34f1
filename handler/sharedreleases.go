package handler

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/helm-service/helm-service/pkg/deployed"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
)

// refuseSharedReleases refuses a deployment that would write a Helm release
// of another service. Release names are not service names: the releases of
// blue/green service carts are carts-primary and carts-canary, which are
// also the release names of direct services carts-primary and carts-canary.
// Whichever of the two is deployed second is refused, before anything is
// written, naming both. The records read here are read once: ctx, which it
// returns, makes the deployment's own reads of them reuse these, and a
// record that cannot be read fails the deployment at its own read of it.
func (d *Deployment) refuseSharedReleases(ctx context.Context, namespace, service string, strategy events.Strategy) (context.Context, error) {
	ctx = withReadOnce(ctx)
	if strategy == events.StrategyBlueGreen {
		return ctx, d.refuseTakenBlueGreenReleases(ctx, namespace, service)
	}
	return ctx, d.refuseBlueGreenReleaseName(ctx, namespace, service, strategy)
}

// refuseTakenBlueGreenReleases refuses blue/green service when a release
// it would write, <service>-primary or <service>-canary, belongs to
// another service.
func (d *Deployment) refuseTakenBlueGreenReleases(ctx context.Context, namespace, service string) error {
	for _, side := range []deployed.Side{deployed.Primary, deployed.Canary} {
		name := deployed.ReleaseName(service, side)
		rec, err := d.sharedRelease(ctx, namespace, name)
		if err != nil {
			// The deployment reads both releases itself, the primary
			// first, and fails there.
			return nil
		}
		if owner := ownerOf(rec); owner != "" && owner != service {
			return fmt.Errorf("service %s cannot be deployed with strategy %s in namespace %s: its %s release %s/%s is the release of %s; one Helm release cannot belong to two services: rename one of the two services, or remove service %s first",
				service, events.StrategyBlueGreen, namespace, side, namespace, name, describeOwner(rec), owner)
		}
	}
	return nil
}

// refuseBlueGreenReleaseName refuses a service deployed as one release
// named <base>-primary or <base>-canary (only such a name can be a
// blue/green service's release) while blue/green service <base> has
// either of its releases.
func (d *Deployment) refuseBlueGreenReleaseName(ctx context.Context, namespace, service string, strategy events.Strategy) error {
	for _, side := range []deployed.Side{deployed.Primary, deployed.Canary} {
		base, ok := strings.CutSuffix(service, "-"+string(side))
		if !ok || base == "" {
			continue
		}
		for _, other := range []deployed.Side{deployed.Primary, deployed.Canary} {
			name := deployed.ReleaseName(base, other)
			rec, err := d.sharedRelease(ctx, namespace, name)
			if err != nil && name == service {
				continue // the deployment reads its release itself, and fails there
			}
			if err != nil {
				return err
			}
			if ownerOf(rec) != base {
				continue
			}
			where := ""
			if name != service {
				where = fmt.Sprintf(", which is deployed there (release %s/%s)", namespace, name)
			}
			return fmt.Errorf("service %s cannot be deployed with strategy %s in namespace %s: its release %s/%s is the %s release of %s service %s%s; one Helm release cannot belong to two services: rename service %s, or remove service %s first",
				service, strategy, namespace, namespace, service, side, events.StrategyBlueGreen, base, where, service, base)
		}
	}
	return nil
}

// sharedRelease reads the newest record of a release, nil when there is
// none.
func (d *Deployment) sharedRelease(ctx context.Context, namespace, name string) (*helm.Record, error) {
	rec, err := d.releases.Get(ctx, namespace, name)
	switch {
	case errors.Is(err, helm.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("check which service release %s/%s belongs to: %w", namespace, name, err)
	}
	return rec, nil
}

// ownerOf is the service a release record says it belongs to, "" when it
// does not say (it was not made by helm-service, or before labels).
func ownerOf(rec *helm.Record) string {
	if rec == nil {
		return ""
	}
	return rec.Labels[kube.LabelService]
}

// describeOwner names the service of a release record with its strategy.
func describeOwner(rec *helm.Record) string {
	if s := rec.Labels[kube.LabelStrategy]; s != "" {
		return s + " service " + ownerOf(rec)
	}
	return "service " + ownerOf(rec)
}
