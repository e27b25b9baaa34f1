package handler

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"helm.sh/helm/v3/pkg/chart"

	"github.com/helm-service/helm-service/pkg/deployed"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
	"github.com/helm-service/helm-service/pkg/routing"
	"github.com/helm-service/helm-service/pkg/vargroups"
)

// deployBlueGreen deploys the new version as the canary of the service. On
// the first deployment the primary gets the same version first. The stable
// endpoint then routes per the route mode: all to the canary, or (dark)
// all to the primary.
//
// Both sides read an immutable snapshot of the variable groups as the
// trigger's variables would leave them; the groups themselves are written
// only once the canary is ready, so that variables of a failed deployment
// never reach a later canary, nor the primary.
func (d *Deployment) deployBlueGreen(ctx context.Context, t Trigger, in *events.DeploymentTriggered, ch *chart.Chart, gitCommit string, values map[string]any, namespace string, target map[string]string, rollout kube.Rollout, varChanges variableGroupChanges) (events.Finished, error) {
	snapshot, changedVars, err := d.snapshotVariables(ctx, namespace, in.Service, varChanges)
	if err != nil {
		return nil, err
	}
	if d.variables != nil {
		defer collectSnapshots(ctx, t, d.releases, d.variables, namespace, in.Service)
	}
	render := renderSettings{rollout: rollout, snapshot: snapshot}
	request := func(side deployed.Side) helm.Request {
		labels := deployed.RecordLabels(target, side)
		if side == deployed.Canary {
			addSequenceLabel(labels, t)
		}
		return helm.Request{
			Namespace:    namespace,
			Name:         deployed.ReleaseName(in.Service, side),
			Chart:        ch,
			Values:       values,
			Labels:       render.onLabels(labels),
			ObjectLabels: deployed.ObjectLabels(in.Service, side),
			Timeout:      d.settings.WaitTimeout,
			Rollout:      rollout,
			Variables:    render.variables(),
		}
	}

	var primaryServices []helm.Service
	primary, err := d.releases.Get(ctx, namespace, deployed.PrimaryName(in.Service))
	switch {
	case errors.Is(err, helm.ErrNotFound):
		t.Log.Info("first blue/green deployment: installing the primary", "namespace", namespace, "release", deployed.PrimaryName(in.Service))
		res, err := d.releases.Upgrade(ctx, request(deployed.Primary))
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
	switch canary, err := d.releases.Get(ctx, namespace, deployed.CanaryName(in.Service)); {
	case errors.Is(err, helm.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		canary, _ = deployed.OwnWorkloads(canary, namespace)
		if err := d.scaler.ScaleUpFromZero(ctx, canary.Workloads); err != nil {
			return nil, fmt.Errorf("canary of %s: %w", in.Service, err)
		}
	}

	t.Log.Info("deploying canary", "namespace", namespace, "release", deployed.CanaryName(in.Service), "chart", ch.Metadata.Name, "chartVersion", ch.Metadata.Version)
	canary, err := d.releases.Upgrade(ctx, request(deployed.Canary))
	if err != nil {
		return nil, fmt.Errorf("canary of %s: %w", in.Service, err)
	}
	if err := d.commitVariables(ctx, namespace, in.Service, varChanges); err != nil {
		return nil, fmt.Errorf("the canary of %s is ready with its variables, but writing them to the variable groups failed (traffic unchanged; deploy again): %w", in.Service, err)
	}

	side, split, services := deployed.Canary, routing.AllCanary, canary.Services
	if d.settings.RouteMode == RouteModeDark {
		side, split, services = deployed.Primary, routing.AllPrimary, primaryServices
	}
	rt, err := deployed.RouteTarget(namespace, in.Service, side, services)
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
		DeploymentNames:      []string{string(deployed.Canary)},
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

// snapshotVariables stores the variable groups, as the trigger's changes
// would leave them, as a snapshot for a blue/green service's pods, and
// returns it with the names of the variables the changes change. It writes
// no group. Without variable groups it returns nil (see applyVariables).
func (d *Deployment) snapshotVariables(ctx context.Context, namespace, service string, c variableGroupChanges) (*vargroups.Snapshot, []string, error) {
	if d.variables == nil {
		return nil, nil, c.refuseWithoutGroups()
	}
	changed, groups, err := d.variables.Preview(ctx, namespace, service, c.global, c.service)
	if err != nil {
		return nil, nil, err
	}
	snapshot, err := d.variables.Snapshot(ctx, namespace, service, groups)
	if err != nil {
		return nil, nil, err
	}
	return &snapshot, changed, nil
}

// commitVariables writes a trigger's variables to the groups.
func (d *Deployment) commitVariables(ctx context.Context, namespace, service string, c variableGroupChanges) error {
	if d.variables == nil || (len(c.global) == 0 && len(c.service) == 0) {
		return nil
	}
	_, _, err := d.variables.Apply(ctx, namespace, service, c.global, c.service)
	return err
}

// renderSettings are what a blue/green side is rendered with besides its
// chart and values: the rollout of its Deployments and the variable
// snapshot its pods read. Release records keep them in labels, so that a
// promotion, in any replica and after any restart, renders the primary
// exactly as the canary was rendered.
type renderSettings struct {
	rollout kube.Rollout
	// snapshot is nil without variable groups.
	snapshot *vargroups.Snapshot
}

// onLabels returns labels with the settings' labels added, and those of
// unset settings marked for removal.
func (s renderSettings) onLabels(labels map[string]string) map[string]string {
	out := maps.Clone(labels)
	for _, k := range append(kube.RolloutLabelKeys(), vargroups.LabelSnapshot) {
		out[k] = helm.RemoveLabel
	}
	maps.Copy(out, s.rollout.Labels())
	if s.snapshot != nil {
		out[vargroups.LabelSnapshot] = s.snapshot.ID
	}
	return out
}

// variables is the post-renderer giving the pods their snapshot, or nil.
func (s renderSettings) variables() *helm.VariablesPostRenderer {
	if s.snapshot == nil {
		return nil
	}
	return &helm.VariablesPostRenderer{Secrets: []string{s.snapshot.Name}, Checksum: s.snapshot.Checksum, Snapshot: s.snapshot.ID}
}

// renderSettingsOf reads the settings a release record of service keeps,
// checking its variable snapshot with vars (nil without variable groups).
// Errors name the label and say what to do.
func renderSettingsOf(ctx context.Context, vars Variables, r *helm.Record, service string) (renderSettings, error) {
	rollout, err := kube.RolloutFromLabels(r.Labels)
	if err != nil {
		return renderSettings{}, fmt.Errorf("release %s: %w: deploy it again to record its rollout anew", r.Name, err)
	}
	s := renderSettings{rollout: rollout}
	id, ok := r.Labels[vargroups.LabelSnapshot]
	switch {
	case vars == nil && ok:
		return renderSettings{}, fmt.Errorf("release %s reads the variable snapshot %s, but variable groups are not available", r.Name, id)
	case vars == nil:
		return s, nil
	case !ok:
		return renderSettings{}, fmt.Errorf("release %s has no label %s naming the variable snapshot its pods read (it was deployed by an earlier helm-service): deploy it again", r.Name, vargroups.LabelSnapshot)
	}
	snapshot, err := vars.ReadSnapshot(ctx, r.Namespace, service, id)
	if err != nil {
		return renderSettings{}, fmt.Errorf("release %s, label %s: %w: deploy it again", r.Name, vargroups.LabelSnapshot, err)
	}
	s.snapshot = &snapshot
	return s, nil
}

// collectSnapshots deletes the variable snapshots of a blue/green service
// that neither its primary's nor its canary's newest revision reads. It
// only logs what goes wrong: a snapshot left behind harms no one.
func collectSnapshots(ctx context.Context, t Trigger, releases Releases, vars Variables, namespace, service string) {
	var keep []string
	for _, name := range []string{deployed.PrimaryName(service), deployed.CanaryName(service)} {
		r, err := releases.Get(ctx, namespace, name)
		switch {
		case errors.Is(err, helm.ErrNotFound):
			continue
		case err != nil:
			t.Log.Warn("variable snapshots not collected: the releases that read them cannot be read", "namespace", namespace, "service", service, "error", err)
			return
		}
		if id := r.Labels[vargroups.LabelSnapshot]; id != "" {
			keep = append(keep, id)
		}
	}
	deleted, err := vars.CollectSnapshots(ctx, namespace, service, keep)
	if len(deleted) > 0 {
		t.Log.Info("deleted variable snapshots no release reads", "namespace", namespace, "service", service, "snapshots", deleted)
	}
	if err != nil {
		t.Log.Warn("collecting variable snapshots failed", "namespace", namespace, "service", service, "error", err)
	}
}
