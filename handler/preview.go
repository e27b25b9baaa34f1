package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"

	"helm.sh/helm/v3/pkg/chart"

	"github.com/helm-service/helm-service/pkg/deployed"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
	"github.com/helm-service/helm-service/pkg/preview"
	"github.com/helm-service/helm-service/pkg/vargroups"
)

// Renderer renders what a deployment would apply, writing nothing (see
// helm.Client.Render).
type Renderer interface {
	Render(ctx context.Context, req helm.Request) (*helm.Rendered, error)
}

// previewer is what a dry run needs: the render of the deployment path,
// the API server's dry run, and the size a preview is cut to.
type previewer struct {
	renderer Renderer
	cluster  preview.Cluster
	maxBytes int
}

// previewHeadroom is the part of the event size limit left to the rest of
// a dry run's .finished (its CloudEvent attributes and other data).
const previewHeadroom = 16 << 10

// WithPreview lets triggers ask for a dry run (deployment.dryRun): r
// renders, c dry-runs the objects on the API server, and a preview is cut
// to fit eventLimit bytes (MAX_EVENT_BYTES). It returns d.
func (d *Deployment) WithPreview(r Renderer, c preview.Cluster, eventLimit int) *Deployment {
	d.previewer = &previewer{renderer: r, cluster: c, maxBytes: max(eventLimit-previewHeadroom, eventLimit/2)}
	return d
}

// DryRun implements DryRunTeller: whether the trigger's deployment.dryRun
// asks for a preview (false when it cannot be read: Run then refuses the
// trigger).
func (d *Deployment) DryRun(t Trigger) bool {
	var in struct {
		Deployment struct {
			DryRun bool `json:"dryRun"`
		} `json:"deployment"`
	}
	_ = json.Unmarshal(t.Event.Data(), &in)
	return in.Deployment.DryRun
}

// preview answers a dry run: it renders the release a deployment would
// write (the canary of a blue/green service) as the deployment would, and
// reports what applying it would change. Nothing is deployed, no revision
// is written and no variable group is changed.
func (d *Deployment) preview(ctx context.Context, t Trigger, in *events.DeploymentTriggered, ch *chart.Chart, gitCommit string, values map[string]any, namespace string, target map[string]string, strategy events.Strategy, rollout kube.Rollout, varChanges variableGroupChanges) (events.Finished, error) {
	if d.previewer == nil {
		return nil, errors.New("field deployment.dryRun: previews need a Kubernetes cluster, and none is configured")
	}
	req, changedVars, note, err := d.previewRequest(ctx, t, in, ch, values, namespace, target, strategy, rollout, varChanges)
	if err != nil {
		return nil, err
	}
	t.Log.Info("previewing", "namespace", namespace, "release", req.Name, "chart", ch.Metadata.Name, "chartVersion", ch.Metadata.Version, "strategy", strategy)
	rendered, err := d.previewer.renderer.Render(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("dry run: %w", err)
	}
	p, err := preview.Compare(ctx, d.previewer.cluster, namespace, rendered.Current, rendered.Manifest)
	if err != nil {
		return nil, fmt.Errorf("dry run of release %s/%s: the API server refuses what the deployment would apply (fix the chart or the values; nothing was deployed): %w", namespace, req.Name, err)
	}
	p = preview.Cut(p, d.previewer.maxBytes)
	side := string(strategy)
	if strategy == events.StrategyBlueGreen {
		side = string(deployed.Canary)
	}
	out := &events.DeploymentFinished{Deployment: &events.Deployment{
		DeploymentStrategy:   string(strategy),
		DeploymentURIsLocal:  []string{},
		DeploymentURIsPublic: []string{},
		DeploymentNames:      []string{side},
		GitCommit:            gitCommit,
		Namespace:            namespace,
		ReleaseName:          req.Name,
		ChangedVariables:     changedVars,
		DryRun:               true,
		Preview:              &p,
	}}
	counts := map[string]int{}
	for _, o := range p.Objects {
		counts[o.Change]++
	}
	out.Message = fmt.Sprintf("dry run of release %s/%s (chart %s-%s): %d created, %d changed, %d deleted, %d unchanged; nothing was deployed",
		namespace, req.Name, ch.Metadata.Name, ch.Metadata.Version, counts[events.PreviewCreated], counts[events.PreviewChanged], counts[events.PreviewDeleted], p.Unchanged)
	if note != "" {
		out.Message += "; " + note
	}
	if p.Truncated != "" {
		out.Message += "; " + p.Truncated
	}
	return out, nil
}

// previewRequest is the request the deployment would upgrade with, read
// without writing: the variable groups as the trigger would leave them,
// the replicas a scaling action keeps. For a blue/green service it is the
// canary's, with the variable snapshot its newest record reads; note then
// says what the preview cannot show.
func (d *Deployment) previewRequest(ctx context.Context, t Trigger, in *events.DeploymentTriggered, ch *chart.Chart, values map[string]any, namespace string, target map[string]string, strategy events.Strategy, rollout kube.Rollout, varChanges variableGroupChanges) (helm.Request, []string, string, error) {
	req := helm.Request{Namespace: namespace, Chart: ch, Values: values, Timeout: d.settings.WaitTimeout, Rollout: rollout}
	if d.variables == nil {
		if err := varChanges.refuseWithoutGroups(); err != nil {
			return req, nil, "", err
		}
	}
	if strategy == events.StrategyBlueGreen {
		return d.previewCanaryRequest(ctx, t, req, in.Service, target, varChanges)
	}
	req.Name = in.Service
	req.Labels = maps.Clone(target)
	req.Labels[kube.LabelStrategy] = string(strategy)
	req.Labels[kube.LabelDeployment] = string(strategy)
	var changed []string
	if d.variables != nil {
		c, groups, err := d.variables.Preview(ctx, namespace, in.Service, varChanges.global, varChanges.service)
		if err != nil {
			return req, nil, "", err
		}
		changed = c
		req.Variables = &helm.VariablesPostRenderer{Secrets: []string{vargroups.GlobalSecret, vargroups.ServiceSecret(in.Service)}, Checksum: groups.Checksum()}
	}
	switch cur, err := d.releases.Get(ctx, namespace, in.Service); {
	case errors.Is(err, helm.ErrNotFound):
	case err != nil:
		return req, nil, "", err
	default:
		cur, _ = deployed.OwnWorkloads(cur, namespace)
		if req.Replicas, err = deployed.KeptReplicas(ctx, d.scaler, cur); err != nil {
			return req, nil, "", err
		}
	}
	return req, changed, "", nil
}

// previewCanaryRequest is the request of a blue/green service's canary.
func (d *Deployment) previewCanaryRequest(ctx context.Context, t Trigger, req helm.Request, service string, target map[string]string, varChanges variableGroupChanges) (helm.Request, []string, string, error) {
	req.Name = deployed.CanaryName(service)
	req.ObjectLabels = deployed.ObjectLabels(service, deployed.Canary)
	render := renderSettings{rollout: req.Rollout}
	note := ""
	if d.variables != nil {
		switch rec, err := d.releases.Get(ctx, req.Namespace, req.Name); {
		case errors.Is(err, helm.ErrNotFound):
		case err != nil:
			return req, nil, "", err
		default:
			if s, err := renderSettingsOf(ctx, d.variables, rec, service); err == nil {
				render.snapshot = s.snapshot
			}
		}
		if len(varChanges.global) > 0 || len(varChanges.service) > 0 {
			note = "the canary is previewed with the variables it reads now: a deployment gives it a new snapshot with the trigger's variables"
		}
	}
	labels := deployed.RecordLabels(target, deployed.Canary)
	addSequenceLabel(labels, t)
	req.Labels = render.onLabels(labels)
	req.Variables = render.variables()
	var changed []string
	if d.variables != nil {
		var err error
		if changed, _, err = d.variables.Preview(ctx, req.Namespace, service, varChanges.global, varChanges.service); err != nil {
			return req, nil, "", err
		}
	}
	return req, changed, note, nil
}
