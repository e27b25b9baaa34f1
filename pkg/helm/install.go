package helm

import (
	"context"

	"helm.sh/helm/v3/pkg/action"
)

// install installs a release that has no history yet.
func (c *Client) install(ctx context.Context, cfg *action.Configuration, req Request) (*Result, error) {
	in := action.NewInstall(cfg)
	in.Namespace = req.Namespace
	in.ReleaseName = req.Name
	in.Wait = true
	in.Timeout = req.Timeout
	in.Labels = storedLabels(req.Labels)
	rollout := c.rolloutPostRenderer(ctx, req)
	in.PostRenderer = postRendererFor(req, rollout)
	done := timed(c.observer, "install")
	// Helm's own cancellation marks the release failed on this goroutine
	// while its install goroutine goes on writing the same release (a data
	// race in Helm); cancellation reaches the action through the wait
	// instead (waitingClient), which Helm handles on one goroutine.
	rel, err := in.RunWithContext(context.WithoutCancel(ctx), req.Chart, req.Values)
	done()
	if err != nil {
		return nil, c.explainFailure(ctx, "install", req, rel, err)
	}
	res, err := resultOf(rel)
	if res != nil {
		res.ForcedRecreate = rollout.Forced()
	}
	return res, err
}
