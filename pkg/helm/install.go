package helm

import (
	"context"
	"fmt"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/postrender"
	"helm.sh/helm/v3/pkg/release"
)

// Install installs a release that has no history yet and waits until its
// workloads are ready. A chart missing a dependency its Chart.yaml declares
// is refused before anything is done. On failure the error says why, and
// for a failed wait which workloads are not ready.
func (c *Client) Install(ctx context.Context, req Request) (*Result, error) {
	if err := CheckDependencies(req.Chart); err != nil {
		return nil, err
	}
	cfg, err := c.newConfig(ctx, req.Namespace)
	if err != nil {
		return nil, err
	}
	if err := checkCRDs(cfg, req.Chart); err != nil {
		return nil, fmt.Errorf("helm install of release %s/%s: %w", req.Namespace, req.Name, err)
	}
	if err := c.shareCapabilities(cfg, req.Chart); err != nil {
		return nil, fmt.Errorf("helm install of release %s/%s: read the cluster's capabilities: %w", req.Namespace, req.Name, err)
	}
	in := action.NewInstall(cfg)
	in.Namespace = req.Namespace
	in.ReleaseName = req.Name
	in.Wait = true
	in.Timeout = req.Timeout
	in.Labels = storedLabels(req.Labels)
	return c.apply(ctx, "install", req, func(ctx context.Context, pr postrender.PostRenderer) (*release.Release, error) {
		in.PostRenderer = pr
		rel, err := in.RunWithContext(ctx, req.Chart, req.Values)
		invalidateAfter(cfg, req.Chart, rel)
		return rel, err
	})
}
