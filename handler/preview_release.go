package handler

import (
	"context"
	"errors"
	"fmt"

	"helm.sh/helm/v3/pkg/release"

	"github.com/helm-service/helm-service/pkg/deployed"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/preview"
	"github.com/helm-service/helm-service/pkg/routing"
)

// WithPreview lets release triggers ask for a dry run (deployment.dryRun)
// of a blue/green promotion or rollback, as Deployment.WithPreview does.
// It returns r.
func (r *Release) WithPreview(rd Renderer, c preview.Cluster, eventLimit int) *Release {
	r.previewer = &previewer{renderer: rd, cluster: c, maxBytes: max(eventLimit-previewHeadroom, eventLimit/2)}
	return r
}

// preview answers a release dry run of a blue/green service: what
// promotion (the primary rendered as the canary was) or rollback would
// change on the primary, in routing and on the canary's replicas. It
// writes nothing.
func (r *Release) preview(ctx context.Context, t Trigger, promote bool) (events.Finished, error) {
	if r.previewer == nil {
		return nil, errors.New("field deployment.dryRun: previews need a Kubernetes cluster, and none is configured")
	}
	d, err := r.prepare(ctx, t.Target)
	if err != nil {
		return nil, err
	}
	if d.Strategy != events.StrategyBlueGreen {
		return nil, fmt.Errorf("field deployment.dryRun: a dry run of a release previews a blue/green promotion or rollback; %s/%s is a %s service, whose release is not previewed yet: send the release without dryRun", d.Namespace, d.Name, d.Strategy)
	}
	p := events.Preview{Objects: []events.PreviewObject{}}
	verb := "rollback"
	if promote {
		verb = "promotion"
		req, err := r.promotionRequest(ctx, d)
		if err != nil {
			return nil, err
		}
		rendered, err := r.previewer.renderer.Render(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("dry run of the promotion of %s/%s: %w", d.Namespace, d.Name, err)
		}
		if p, err = preview.Compare(ctx, r.previewer.cluster, d.Namespace, rendered.Current, rendered.Manifest); err != nil {
			return nil, fmt.Errorf("dry run of the promotion of %s/%s: the API server refuses what the primary would get (nothing was changed): %w", d.Namespace, d.Name, err)
		}
	}
	target, err := d.Target()
	if err != nil {
		return nil, err
	}
	split, err := r.router.Split(ctx, target)
	if err != nil {
		return nil, fmt.Errorf("dry run of the %s of %s/%s: read the traffic split: %w", verb, d.Namespace, d.Name, err)
	}
	if split != routing.AllPrimary {
		p.Objects = append(p.Objects, events.PreviewObject{Change: events.PreviewChanged, Kind: "TrafficSplit", Namespace: d.Namespace, Name: d.Name,
			Diff: lineDiff("traffic/"+d.Namespace+"/"+d.Name, split.String(), routing.AllPrimary.String())})
	}
	if d.Canary != nil {
		for _, w := range d.Canary.Workloads {
			n, err := r.scaler.Replicas(ctx, w)
			if err != nil {
				return nil, fmt.Errorf("dry run of the %s of %s/%s: %w", verb, d.Namespace, d.Name, err)
			}
			if n > 0 {
				p.Objects = append(p.Objects, events.PreviewObject{Change: events.PreviewChanged, Kind: w.Kind, Namespace: w.Namespace, Name: w.Name,
					Diff: lineDiff(w.Kind+"/"+w.Namespace+"/"+w.Name, fmt.Sprintf("spec.replicas: %d", n), "spec.replicas: 0")})
			}
		}
	}
	p = preview.Cut(p, r.previewer.maxBytes)
	out := &events.ReleaseFinished{Release: &events.Outcome{Action: events.ActionNone, Strategy: string(d.Strategy), Namespace: d.Namespace,
		ReleaseName: deployed.PrimaryName(d.Name), DryRun: true, Preview: &p}}
	out.Message = fmt.Sprintf("dry run of the %s of %s/%s: %d objects would change (the primary, the traffic split, the canary's replicas), %d unchanged; nothing was changed",
		verb, d.Namespace, d.Name, len(p.Objects), p.Unchanged)
	if p.Truncated != "" {
		out.Message += "; " + p.Truncated
	}
	return out, nil
}

// promotionRequest is the request promote upgrades the primary with, after
// the same checks.
func (r *Release) promotionRequest(ctx context.Context, d *deployed.Service) (helm.Request, error) {
	if d.Canary == nil {
		return helm.Request{}, fmt.Errorf("promote %s/%s: it has a primary but no canary release %s", d.Namespace, d.Name, deployed.CanaryName(d.Name))
	}
	if d.Canary.Status != release.StatusDeployed.String() {
		return helm.Request{}, fmt.Errorf("promote %s/%s: the canary's newest revision %d is %s, not deployed: deploy a working version before promoting it", d.Namespace, d.Name, d.Canary.Revision, d.Canary.Status)
	}
	if ch := d.Canary.Chart; ch != nil && ch.Metadata != nil && len(ch.Metadata.Dependencies) > 0 && len(ch.Dependencies()) == 0 {
		return helm.Request{}, fmt.Errorf("promote %s/%s: the canary's chart %s-%s has subcharts, which Helm's release record does not keep: blue/green promotion does not support charts with dependencies yet",
			d.Namespace, d.Name, ch.Metadata.Name, ch.Metadata.Version)
	}
	render, err := renderSettingsOf(ctx, r.variables, d.Canary, d.Name)
	if err != nil {
		return helm.Request{}, fmt.Errorf("promote %s/%s: %w", d.Namespace, d.Name, err)
	}
	kept, err := deployed.KeptReplicas(ctx, r.scaler, d.Primary)
	if err != nil {
		return helm.Request{}, fmt.Errorf("promote %s/%s: %w", d.Namespace, d.Name, err)
	}
	return helm.Request{
		Namespace:    d.Namespace,
		Name:         deployed.PrimaryName(d.Name),
		Chart:        d.Canary.Chart,
		Values:       d.Canary.Values,
		Labels:       render.onLabels(deployed.RecordLabels(d.Primary.Labels, deployed.Primary)),
		ObjectLabels: deployed.ObjectLabels(d.Name, deployed.Primary),
		Timeout:      r.settings.WaitTimeout,
		Replicas:     kept,
		Rollout:      render.rollout,
		Variables:    render.variables(),
	}, nil
}

// lineDiff is a unified diff of one line changed.
func lineDiff(name, before, after string) string {
	return fmt.Sprintf("--- live/%s\n+++ applied/%s\n@@ -1 +1 @@\n-%s\n+%s\n", name, name, before, after)
}
