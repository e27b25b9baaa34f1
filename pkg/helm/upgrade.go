package helm

import (
	"context"
	"fmt"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/postrender"
	"helm.sh/helm/v3/pkg/release"
)

// Upgrade upgrades a release that has history to the chart and values of
// req and waits until its workloads are ready. A chart missing a dependency
// its Chart.yaml declares is refused before anything is done. On failure the
// error says why, and for a failed wait which workloads are not ready; Helm
// refusing a release another operation holds pending is a RefusedError.
func (c *Client) Upgrade(ctx context.Context, req Request) (*Result, error) {
	if err := CheckDependencies(req.Chart); err != nil {
		return nil, err
	}
	cfg, err := c.newConfig(ctx, req.Namespace)
	if err != nil {
		return nil, err
	}
	// Helm upgrades from the newest record, or from the newest deployed
	// one when the newest is not: it deletes what that one lists and the
	// chart no longer does.
	if last, err := cfg.Releases.Last(req.Name); err == nil {
		deployed, _ := cfg.Releases.Deployed(req.Name)
		if err := checkStored(cfg, last, deployed); err != nil {
			return nil, fmt.Errorf("refused to upgrade release %s/%s: %w", req.Namespace, req.Name, err)
		}
	}
	if err := c.shareCapabilities(cfg, req.Chart); err != nil {
		return nil, fmt.Errorf("helm upgrade of release %s/%s: read the cluster's capabilities: %w", req.Namespace, req.Name, err)
	}
	up := action.NewUpgrade(cfg)
	up.Namespace = req.Namespace
	up.Wait = true
	up.Timeout = req.Timeout
	up.Labels = req.Labels
	up.MaxHistory = c.maxHistory
	return c.apply(ctx, "upgrade", req, func(ctx context.Context, pr postrender.PostRenderer) (*release.Release, error) {
		up.PostRenderer = pr
		rel, err := up.RunWithContext(ctx, req.Name, req.Chart, req.Values)
		invalidateAfter(cfg, req.Chart, rel)
		return rel, err
	})
}
