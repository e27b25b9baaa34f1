package helm

import (
	"context"
	"errors"
	"fmt"

	"helm.sh/helm/v3/pkg/action"
)

// Rendered is what a deployment of a request would apply, and what the
// release's newest record applied.
type Rendered struct {
	// Manifest is the manifest an install or upgrade would apply, after
	// the request's post-renderers.
	Manifest string
	// Current is the manifest of the release's newest record, "" when it
	// has none.
	Current string
}

// Render renders req as Install (a release without history) or Upgrade
// would, with the same post-renderers, as a Helm dry run: nothing is
// applied and no revision is written. Templates may look objects up in the
// cluster, as on a deployment. The manifest is not validated against the
// OpenAPI schema here: the API server's dry run of its objects does that.
func (c *Client) Render(ctx context.Context, req Request) (*Rendered, error) {
	if err := CheckDependencies(req.Chart); err != nil {
		return nil, err
	}
	cfg, last, err := c.newest(ctx, req.Namespace, req.Name, "render release")
	if errors.Is(err, ErrNotFound) {
		if cfg, err = c.newConfig(ctx, req.Namespace); err != nil {
			return nil, err
		}
		in := action.NewInstall(cfg)
		in.Namespace, in.ReleaseName = req.Namespace, req.Name
		in.DryRun, in.DryRunOption, in.DisableOpenAPIValidation = true, "server", true
		in.PostRenderer = postRendererFor(req, c.rolloutPostRenderer(ctx, req))
		rel, err := in.RunWithContext(context.WithoutCancel(ctx), req.Chart, req.Values)
		if err != nil {
			return nil, fmt.Errorf("render release %s/%s: %w", req.Namespace, req.Name, err)
		}
		return &Rendered{Manifest: rel.Manifest}, nil
	}
	if err != nil {
		return nil, err
	}
	up := action.NewUpgrade(cfg)
	up.Namespace = req.Namespace
	up.Labels = req.Labels
	up.DryRun, up.DryRunOption, up.DisableOpenAPIValidation = true, "server", true
	up.PostRenderer = postRendererFor(req, c.rolloutPostRenderer(ctx, req))
	rel, err := up.RunWithContext(context.WithoutCancel(ctx), req.Name, req.Chart, req.Values)
	if err != nil {
		return nil, fmt.Errorf("render release %s/%s: %w", req.Namespace, req.Name, refusedAsPending(err))
	}
	return &Rendered{Manifest: rel.Manifest, Current: last.Manifest}, nil
}
