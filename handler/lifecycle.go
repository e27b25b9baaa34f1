package handler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"helm.sh/helm/v3/pkg/release"

	"github.com/helm-service/helm-service/pkg/cdevents"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
	"github.com/helm-service/helm-service/pkg/routing"
)

// Blue/green names: a service's primary and canary are two Helm releases
// of its chart, <service>-primary and <service>-canary. Every object of the
// chart must be named after the release (as `helm create` charts are), so
// that both can live in one namespace. The stable Service of each chart
// Service takes the chart Service's name with the release name replaced by
// the service name, e.g. carts-primary-db → carts-db.
const (
	sidePrimary = "primary"
	sideCanary  = "canary"
)

func primaryName(service string) string { return service + "-" + sidePrimary }
func canaryName(service string) string  { return service + "-" + sideCanary }

// LifecycleSettings are the knobs of release and rollback.
type LifecycleSettings struct {
	// WaitTimeout bounds the wait for workloads to be ready.
	WaitTimeout time.Duration
	// RollbackDirectOnFail rolls a direct release back to its previous
	// revision on a failed release or a rollback.
	RollbackDirectOnFail bool
	// NamespaceTemplate computes a service's namespace; nil means
	// <project>-<stage>.
	NamespaceTemplate *kube.NamespaceTemplate
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

// errNeverDeployed is wrapped by find for a service without releases.
var errNeverDeployed = errors.New("was never deployed by helm-service")

// deployed is how a service is deployed now, as its Helm releases say.
type deployed struct {
	namespace string
	service   string
	strategy  events.Strategy
	// direct is the release of a direct or user_managed service.
	direct *helm.Record
	// primary and canary are the releases of a blue/green service; canary
	// may be nil.
	primary *helm.Record
	canary  *helm.Record
	// foreign are workloads the records list outside namespace: left out
	// of the records' Workloads, never scaled.
	foreign []kube.Workload
}

// find reads the releases of a service (see findDeployed).
func (l *lifecycle) find(ctx context.Context, namespace, service string) (*deployed, error) {
	return findDeployed(ctx, l.releases, namespace, service)
}

// findDeployed reads the releases of a service and tells its strategy from
// their labels. Releases from before strategies were recorded count as
// direct.
func findDeployed(ctx context.Context, releases Releases, namespace, service string) (*deployed, error) {
	records, err := releases.Find(ctx, namespace, map[string]string{kube.LabelService: service})
	if err != nil {
		return nil, fmt.Errorf("find the releases of service %s in %s: %w", service, namespace, err)
	}
	d := &deployed{namespace: namespace, service: service}
	for _, r := range records {
		var foreign []kube.Workload
		r, foreign = ownWorkloads(r, namespace)
		switch r.Name {
		case primaryName(service):
			d.primary = r
		case canaryName(service):
			d.canary = r
		case service:
			d.direct = r
		default:
			continue
		}
		d.foreign = append(d.foreign, foreign...)
	}
	switch {
	case d.primary != nil:
		d.strategy = events.StrategyBlueGreen
	case d.direct != nil:
		d.strategy = events.StrategyDirect
		if d.direct.Labels[kube.LabelStrategy] == string(events.StrategyUserManaged) {
			d.strategy = events.StrategyUserManaged
		}
	default:
		return nil, fmt.Errorf("service %s in namespace %s %w: no Helm release carries %s=%s", service, namespace, errNeverDeployed, kube.LabelService, service)
	}
	return d, nil
}

// prepare checks the cluster, and finds the target's service.
func (l *lifecycle) prepare(ctx context.Context, target Target) (*deployed, error) {
	if l.releases == nil || l.router == nil || l.scaler == nil {
		return nil, kube.ErrNoCluster
	}
	return l.find(ctx, target.Namespace, target.Service)
}

// promote makes the canary the primary: the primary gets the canary's
// chart and values, rendered as the canary was (its rollout and variable
// snapshot, see renderSettings), and must become ready, then the stable
// endpoint routes all traffic to it and the canary is scaled to zero.
func (l *lifecycle) promote(ctx context.Context, t Trigger, d *deployed) (*events.Outcome, string, error) {
	if d.strategy != events.StrategyBlueGreen {
		return &events.Outcome{Action: events.ActionNone}, fmt.Sprintf("%s service: nothing to promote, the release already serves production", d.strategy), nil
	}
	if d.canary == nil {
		return nil, "", fmt.Errorf("promote %s/%s: it has a primary but no canary release %s", d.namespace, d.service, canaryName(d.service))
	}
	if d.canary.Status != release.StatusDeployed.String() {
		return nil, "", fmt.Errorf("promote %s/%s: the canary's newest revision %d is %s, not deployed: deploy a working version before promoting it", d.namespace, d.service, d.canary.Revision, d.canary.Status)
	}
	if ch := d.canary.Chart; ch != nil && ch.Metadata != nil && len(ch.Metadata.Dependencies) > 0 && len(ch.Dependencies()) == 0 {
		// Helm keeps a release's chart without its subcharts: rendered
		// from the record, the primary would lack their objects.
		return nil, "", fmt.Errorf("promote %s/%s (traffic unchanged): the canary's chart %s-%s has subcharts, and Helm's release record keeps the chart without them, so the primary cannot be rendered as the canary was; blue/green promotion does not support charts with dependencies yet: deploy this service with the direct strategy, or move the subcharts' templates into the chart",
			d.namespace, d.service, ch.Metadata.Name, ch.Metadata.Version)
	}
	render, err := renderSettingsOf(ctx, l.variables, d.canary, d.service)
	if err != nil {
		return nil, "", fmt.Errorf("promote %s/%s (traffic unchanged): %w", d.namespace, d.service, err)
	}
	kept, err := keptReplicas(ctx, l.scaler, d.primary)
	if err != nil {
		return nil, "", fmt.Errorf("promote %s/%s: %w", d.namespace, d.service, err)
	}
	t.Log.Info("promoting canary", "namespace", d.namespace, "canary", d.canary.Name, "canaryRevision", d.canary.Revision, "keptReplicas", len(kept))
	start := time.Now()
	res, err := l.releases.Upgrade(ctx, helm.Request{
		Namespace:    d.namespace,
		Name:         primaryName(d.service),
		Chart:        d.canary.Chart,
		Values:       d.canary.Values,
		Labels:       render.onLabels(blueGreenLabels(d.primary.Labels, sidePrimary)),
		ObjectLabels: objectLabels(d.service, sidePrimary),
		Timeout:      l.settings.WaitTimeout,
		Replicas:     kept,
		Rollout:      render.rollout,
		Variables:    render.variables(),
	})
	if err != nil {
		return nil, "", fmt.Errorf("promote %s/%s: the primary did not take the canary's version (traffic unchanged): %w", d.namespace, d.service, err)
	}
	target, err := routeTarget(d.service, d.namespace, sidePrimary, res.Services)
	if err != nil {
		return nil, "", err
	}
	if err := l.router.Route(ctx, target, routing.AllPrimary); err != nil {
		return nil, "", fmt.Errorf("promote %s/%s: route to the primary: %w", d.namespace, d.service, err)
	}
	traffic, err := l.traffic(ctx, target)
	if err != nil {
		return nil, "", err
	}
	if err := l.scaler.Scale(ctx, d.canary.Workloads, 0); err != nil {
		return nil, "", fmt.Errorf("promote %s/%s: the primary serves the new version, but scaling the canary to zero failed: %w", d.namespace, d.service, err)
	}
	if l.variables != nil {
		collectSnapshots(ctx, t, l.releases, l.variables, d.namespace, d.service)
	}
	t.recordChange(cdevents.Upgraded, d.namespace, d.service, res.Images)
	out := &events.Outcome{Action: events.ActionPromoted, ReleaseName: res.Name, HelmRevision: res.Revision, Traffic: traffic}
	msg := fmt.Sprintf("promoted: primary %s/%s is at revision %d with the canary's chart %s-%s, values, rollout and variables, all traffic goes to it, the canary is scaled to zero (took %s)",
		d.namespace, res.Name, res.Revision, res.ChartName, res.ChartVersion, time.Since(start).Round(time.Millisecond))
	return out, withForcedRecreate(msg, res.ForcedRecreate), nil
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
func (l *lifecycle) revert(ctx context.Context, t Trigger, d *deployed, keptnContext string) (*events.Outcome, string, error) {
	switch d.strategy {
	case events.StrategyBlueGreen:
		if d.canary != nil {
			other, err := otherSequence(d.canary, keptnContext)
			if err != nil {
				return nil, "", err
			}
			if other != "" {
				return &events.Outcome{Action: events.ActionNone, ReleaseName: d.canary.Name, HelmRevision: d.canary.Revision},
					fmt.Sprintf("blue/green service: nothing to roll back: canary %s; the canary, its replicas and the traffic are left as they are, for that sequence's own release or rollback", other), nil
			}
		}
		target, err := routeTarget(d.service, d.namespace, sidePrimary, d.primary.Services)
		if err != nil {
			return nil, "", err
		}
		if err := l.router.Route(ctx, target, routing.AllPrimary); err != nil {
			return nil, "", fmt.Errorf("roll back %s/%s: route to the primary: %w", d.namespace, d.service, err)
		}
		traffic, err := l.traffic(ctx, target)
		if err != nil {
			return nil, "", err
		}
		if d.canary != nil {
			if err := l.scaler.Scale(ctx, d.canary.Workloads, 0); err != nil {
				return nil, "", fmt.Errorf("roll back %s/%s: traffic goes to the primary, but scaling the canary to zero failed: %w", d.namespace, d.service, err)
			}
		}
		t.recordChange(cdevents.RolledBack, d.namespace, d.service, d.primary.Images)
		out := &events.Outcome{Action: events.ActionRolledBack, ReleaseName: d.primary.Name, HelmRevision: d.primary.Revision, Traffic: traffic}
		return out, fmt.Sprintf("rolled back: all traffic goes to primary %s/%s at revision %d (untouched), the canary is scaled to zero",
			d.namespace, d.primary.Name, d.primary.Revision), nil
	case events.StrategyDirect:
		if !l.settings.RollbackDirectOnFail {
			return &events.Outcome{Action: events.ActionNone, ReleaseName: d.direct.Name, HelmRevision: d.direct.Revision},
				fmt.Sprintf("direct service: release %s/%s left at revision %d (ROLLBACK_DIRECT_ON_FAIL is off)", d.namespace, d.direct.Name, d.direct.Revision), nil
		}
		other, err := otherSequence(d.direct, keptnContext)
		if err != nil {
			return nil, "", err
		}
		if other != "" {
			return &events.Outcome{Action: events.ActionNone, ReleaseName: d.direct.Name, HelmRevision: d.direct.Revision},
				fmt.Sprintf("direct service: nothing to roll back: %s, which made no newer revision", other), nil
		}
		t.Log.Info("rolling back direct release", "namespace", d.namespace, "release", d.direct.Name, "from", d.direct.Revision)
		res, err := l.releases.Rollback(ctx, d.namespace, d.direct.Name, l.settings.WaitTimeout)
		if err != nil {
			return nil, "", err
		}
		t.recordChange(cdevents.RolledBack, d.namespace, d.service, res.Images)
		out := &events.Outcome{Action: events.ActionRolledBack, ReleaseName: res.Name, HelmRevision: res.Revision}
		msg := fmt.Sprintf("rolled back: release %s/%s went from revision %d back to the previous deployed revision, %d (its chart and values), as revision %d, and its workloads are ready",
			d.namespace, res.Name, d.direct.Revision, res.RolledBackTo, res.Revision)
		if res.Recovered != "" {
			msg = res.Recovered + ". " + msg
		}
		return out, msg, nil
	default:
		return &events.Outcome{Action: events.ActionNone, ReleaseName: d.direct.Name, HelmRevision: d.direct.Revision},
			fmt.Sprintf("user_managed service: release %s/%s left as it is; its owner rolls it back", d.namespace, d.direct.Name), nil
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

// blueGreenLabels are the labels of a primary or canary release record.
func blueGreenLabels(base map[string]string, side string) map[string]string {
	out := make(map[string]string, len(base)+2)
	for _, k := range []string{kube.LabelProject, kube.LabelStage, kube.LabelService} {
		if v, ok := base[k]; ok {
			out[k] = v
		}
	}
	out[kube.LabelStrategy] = string(events.StrategyBlueGreen)
	out[kube.LabelDeployment] = side
	return out
}

// objectLabels are put on every object and pod of a primary or canary.
func objectLabels(service, side string) map[string]string {
	return map[string]string{kube.LabelService: service, kube.LabelDeployment: side}
}

// routeTarget pairs the Services of one side's release with their stable
// names and the other side's names.
func routeTarget(service, namespace, side string, services []helm.Service) (routing.Target, error) {
	release := primaryName(service)
	if side == sideCanary {
		release = canaryName(service)
	}
	t := routing.Target{Namespace: namespace, Service: service}
	for _, s := range services {
		b, ok := routing.BlueGreenBackend(service, primaryName(service), canaryName(service), release, s.Name, s.Port)
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
