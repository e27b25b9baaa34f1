package handler

import (
	"context"
	"fmt"
	"maps"
	"time"

	"helm.sh/helm/v3/pkg/release"

	"github.com/helm-service/helm-service/pkg/cdevents"
	"github.com/helm-service/helm-service/pkg/deployed"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
	"github.com/helm-service/helm-service/pkg/routing"
)

// LifecycleSettings are the knobs of release and rollback.
type LifecycleSettings struct {
	// WaitTimeout bounds the wait for workloads to be ready.
	WaitTimeout time.Duration
	// RollbackDirectOnFail rolls a direct release back to its previous
	// revision on a failed release or a rollback.
	RollbackDirectOnFail bool
}

// lifecycle moves a deployed service between its states: promote the
// canary, or revert to the primary (or the previous revision).
type lifecycle struct {
	releases Releases
	router   Router
	scaler   Scaler
	settings LifecycleSettings
	// variables are nil without variable groups.
	variables Variables
}

// newLifecycle returns the lifecycle of release and rollback, NoCluster in
// place of a nil collaborator.
func newLifecycle(releases Releases, router Router, scaler Scaler, settings LifecycleSettings) lifecycle {
	return lifecycle{releases: tracedReleasesOf(clusterOr(releases)), router: tracedRouterOf(clusterOr(router)), scaler: clusterOr(scaler), settings: settings}
}

// find reads the releases of a service (see deployed.Find).
func (l *lifecycle) find(ctx context.Context, namespace, service string) (*deployed.Service, error) {
	return deployed.Find(ctx, l.releases, namespace, service)
}

// prepare checks the cluster, and finds the target's service. Without a
// cluster it returns kube.ErrNoCluster as it is, not wrapped in the find.
func (l *lifecycle) prepare(ctx context.Context, target Target) (*deployed.Service, error) {
	if err := noCluster(l.releases, l.router, l.scaler); err != nil {
		return nil, err
	}
	return l.find(ctx, target.Namespace, target.Service)
}

// promote makes the canary the primary: the primary gets the canary's
// chart and values, rendered as the canary was (its rollout and variable
// snapshot, see renderSettings), and must become ready, then the stable
// endpoint routes all traffic to it and the canary is scaled to zero.
func (l *lifecycle) promote(ctx context.Context, t Trigger, d *deployed.Service) (*events.Outcome, string, error) {
	if d.Strategy != events.StrategyBlueGreen {
		return &events.Outcome{Action: events.ActionNone}, fmt.Sprintf("%s service: nothing to promote, the release already serves production", d.Strategy), nil
	}
	if d.Canary == nil {
		return nil, "", fmt.Errorf("promote %s/%s: it has a primary but no canary release %s", d.Namespace, d.Name, deployed.CanaryName(d.Name))
	}
	if d.Canary.Status != release.StatusDeployed.String() {
		return nil, "", fmt.Errorf("promote %s/%s: the canary's newest revision %d is %s, not deployed: deploy a working version before promoting it", d.Namespace, d.Name, d.Canary.Revision, d.Canary.Status)
	}
	if ch := d.Canary.Chart; ch != nil && ch.Metadata != nil && len(ch.Metadata.Dependencies) > 0 && len(ch.Dependencies()) == 0 {
		// Helm keeps a release's chart without its subcharts: rendered
		// from the record, the primary would lack their objects.
		return nil, "", fmt.Errorf("promote %s/%s (traffic unchanged): the canary's chart %s-%s has subcharts, and Helm's release record keeps the chart without them, so the primary cannot be rendered as the canary was; blue/green promotion does not support charts with dependencies yet: deploy this service with the direct strategy, or move the subcharts' templates into the chart",
			d.Namespace, d.Name, ch.Metadata.Name, ch.Metadata.Version)
	}
	render, err := renderSettingsOf(ctx, l.variables, d.Canary, d.Name)
	if err != nil {
		return nil, "", fmt.Errorf("promote %s/%s (traffic unchanged): %w", d.Namespace, d.Name, err)
	}
	kept, err := deployed.KeptReplicas(ctx, l.scaler, d.Primary)
	if err != nil {
		return nil, "", fmt.Errorf("promote %s/%s: %w", d.Namespace, d.Name, err)
	}
	t.Log.Info("promoting canary", "namespace", d.Namespace, "canary", d.Canary.Name, "canaryRevision", d.Canary.Revision, "keptReplicas", len(kept))
	start := time.Now()
	res, err := l.releases.Upgrade(ctx, helm.Request{
		Namespace:    d.Namespace,
		Name:         deployed.PrimaryName(d.Name),
		Chart:        d.Canary.Chart,
		Values:       d.Canary.Values,
		Labels:       render.onLabels(deployed.RecordLabels(ownerLabels(d.Primary.Labels, t.Target, d.Name), deployed.Primary)),
		ObjectLabels: deployed.ObjectLabels(d.Name, deployed.Primary),
		Timeout:      l.settings.WaitTimeout,
		Replicas:     kept,
		Rollout:      render.rollout,
		Variables:    render.variables(),
	})
	if err != nil {
		return nil, "", fmt.Errorf("promote %s/%s: the primary did not take the canary's version (traffic unchanged): %w", d.Namespace, d.Name, err)
	}
	target, err := deployed.RouteTarget(d.Namespace, d.Name, deployed.Primary, res.Services)
	if err != nil {
		return nil, "", err
	}
	if err := l.router.Route(ctx, target, routing.AllPrimary); err != nil {
		return nil, "", fmt.Errorf("promote %s/%s: route to the primary: %w", d.Namespace, d.Name, err)
	}
	traffic, err := l.traffic(ctx, target)
	if err != nil {
		return nil, "", err
	}
	if err := l.scaler.Scale(ctx, d.Canary.Workloads, 0); err != nil {
		return nil, "", fmt.Errorf("promote %s/%s: the primary serves the new version, but scaling the canary to zero failed: %w", d.Namespace, d.Name, err)
	}
	if l.variables != nil {
		collectSnapshots(ctx, t, l.releases, l.variables, d.Namespace, d.Name)
	}
	t.recordChange(cdevents.Upgraded, d.Namespace, d.Name, res.Images)
	out := &events.Outcome{Action: events.ActionPromoted, ReleaseName: res.Name, HelmRevision: res.Revision, Traffic: traffic}
	msg := fmt.Sprintf("promoted: primary %s/%s is at revision %d with the canary's chart %s-%s, values, rollout and variables, all traffic goes to it, the canary is scaled to zero (took %s)",
		d.Namespace, res.Name, res.Revision, res.ChartName, res.ChartVersion, time.Since(start).Round(time.Millisecond))
	return out, withForcedRecreate(msg, res.ForcedRecreate), nil
}

// ownerLabels are the project, stage and service labels a record written
// for target's service carries: the trigger's, else those of the record
// it follows (recorded), so that every record helm-service writes names
// its owner, an adopted release's included.
func ownerLabels(recorded map[string]string, target Target, service string) map[string]string {
	out := maps.Clone(recorded)
	if out == nil {
		out = map[string]string{}
	}
	for k, v := range (deployed.Owner{Project: target.Project, Stage: target.Stage, Service: service}).Labels() {
		if v != "" {
			out[k] = v
		}
	}
	return out
}

// revert undoes a deployment that failed: blue/green routes all traffic to
// the untouched primary and scales the canary to zero; direct rolls back to
// the newest earlier Helm revision that was deployed, when configured;
// user_managed is left alone.
//
// keptnContext is the trigger's Keptn context. Only the sequence that made
// the newest revision (of the canary, for blue/green) reverts it: when
// another sequence made it, the failed sequence made no newer one (its
// chart did not render, say, or a newer sequence replaced it), and
// reverting would undo another sequence's deployment. A trigger without a
// context is refused when the revision names its sequence.
func (l *lifecycle) revert(ctx context.Context, t Trigger, d *deployed.Service, keptnContext string) (*events.Outcome, string, error) {
	switch d.Strategy {
	case events.StrategyBlueGreen:
		if d.Canary != nil {
			other, err := otherSequence(d.Canary, keptnContext)
			if err != nil {
				return nil, "", err
			}
			if other != "" {
				return &events.Outcome{Action: events.ActionNone, ReleaseName: d.Canary.Name, HelmRevision: d.Canary.Revision},
					fmt.Sprintf("blue/green service: nothing to roll back: canary %s; the canary, its replicas and the traffic are left as they are, for that sequence's own release or rollback", other), nil
			}
		}
		target, err := d.Target()
		if err != nil {
			return nil, "", err
		}
		if err := l.router.Route(ctx, target, routing.AllPrimary); err != nil {
			return nil, "", fmt.Errorf("roll back %s/%s: route to the primary: %w", d.Namespace, d.Name, err)
		}
		traffic, err := l.traffic(ctx, target)
		if err != nil {
			return nil, "", err
		}
		if d.Canary != nil {
			if err := l.scaler.Scale(ctx, d.Canary.Workloads, 0); err != nil {
				return nil, "", fmt.Errorf("roll back %s/%s: traffic goes to the primary, but scaling the canary to zero failed: %w", d.Namespace, d.Name, err)
			}
		}
		t.recordChange(cdevents.RolledBack, d.Namespace, d.Name, d.Primary.Images)
		out := &events.Outcome{Action: events.ActionRolledBack, ReleaseName: d.Primary.Name, HelmRevision: d.Primary.Revision, Traffic: traffic}
		return out, fmt.Sprintf("rolled back: all traffic goes to primary %s/%s at revision %d (untouched), the canary is scaled to zero",
			d.Namespace, d.Primary.Name, d.Primary.Revision), nil
	case events.StrategyDirect:
		if !l.settings.RollbackDirectOnFail {
			return &events.Outcome{Action: events.ActionNone, ReleaseName: d.Direct.Name, HelmRevision: d.Direct.Revision},
				fmt.Sprintf("direct service: release %s/%s left at revision %d (ROLLBACK_DIRECT_ON_FAIL is off)", d.Namespace, d.Direct.Name, d.Direct.Revision), nil
		}
		other, err := otherSequence(d.Direct, keptnContext)
		if err != nil {
			return nil, "", err
		}
		if other != "" {
			return &events.Outcome{Action: events.ActionNone, ReleaseName: d.Direct.Name, HelmRevision: d.Direct.Revision},
				fmt.Sprintf("direct service: nothing to roll back: %s, which made no newer revision", other), nil
		}
		t.Log.Info("rolling back direct release", "namespace", d.Namespace, "release", d.Direct.Name, "from", d.Direct.Revision)
		res, err := l.releases.Rollback(ctx, d.Namespace, d.Direct.Name, l.settings.WaitTimeout)
		if err != nil {
			return nil, "", err
		}
		t.recordChange(cdevents.RolledBack, d.Namespace, d.Name, res.Images)
		out := &events.Outcome{Action: events.ActionRolledBack, ReleaseName: res.Name, HelmRevision: res.Revision}
		msg := fmt.Sprintf("rolled back: release %s/%s went from revision %d back to the previous deployed revision, %d (its chart and values), as revision %d, and its workloads are ready",
			d.Namespace, res.Name, d.Direct.Revision, res.RolledBackTo, res.Revision)
		if res.Recovered != "" {
			msg = res.Recovered + ". " + msg
		}
		return out, msg, nil
	default:
		return &events.Outcome{Action: events.ActionNone, ReleaseName: d.Direct.Name, HelmRevision: d.Direct.Revision},
			fmt.Sprintf("user_managed service: release %s/%s left as it is; its owner rolls it back", d.Namespace, d.Direct.Name), nil
	}
}

// otherSequence checks that the revision rec, which a revert would undo,
// was made by the trigger's sequence (keptnContext). It describes the
// revision when another sequence made it, and returns "" when this one did
// or the revision names none. A trigger without a context cannot tell and
// is refused when the revision names its sequence.
func otherSequence(rec *helm.Record, keptnContext string) (string, error) {
	made := rec.Labels[kube.LabelContext]
	switch {
	case made == "" || made == keptnContext:
		return "", nil
	case keptnContext == "":
		return "", fmt.Errorf("field %s is missing: revision %d of release %s/%s was made by sequence %s, and helm-service reverts a revision only for the sequence that made it; send the trigger with the %s of the sequence whose delivery failed",
			events.ExtContext, rec.Revision, rec.Namespace, rec.Name, made, events.ExtContext)
	}
	return fmt.Sprintf("revision %d of release %s/%s was made by sequence %s, not by this one (%s)", rec.Revision, rec.Namespace, rec.Name, made, keptnContext), nil
}

// traffic reads back the split the router reports.
func (l *lifecycle) traffic(ctx context.Context, t routing.Target) (*events.Traffic, error) {
	s, err := l.router.Split(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("%s/%s is routed, but its split cannot be read back: %w", t.Namespace, t.Service, err)
	}
	return &events.Traffic{Primary: s.Primary, Canary: s.Canary}, nil
}

// TouchedReleases implements ReleaseToucher: release and rollback act on
// whichever releases the service has.
func (l *lifecycle) TouchedReleases(t Trigger) []string {
	return deployed.ReleaseNames(t.Common.Service)
}
