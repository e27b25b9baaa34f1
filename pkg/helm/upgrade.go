package helm

import (
	"context"
	"errors"
	"fmt"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
)

// Upgrade installs the release, or upgrades it when it exists, and waits
// until its workloads are ready. A chart missing a dependency its Chart.yaml
// declares is refused before anything is done. On failure the error says
// why, and for a failed wait which workloads are not ready.
func (c *Client) Upgrade(ctx context.Context, req Request) (*Result, error) {
	if err := checkDependencies(req.Chart); err != nil {
		return nil, err
	}
	cfg, err := c.newConfig(ctx, req.Namespace)
	if err != nil {
		return nil, err
	}
	recovered, err := c.recoverPending(ctx, cfg, req)
	if err != nil {
		return nil, err
	}
	res, err := c.installOrUpgrade(ctx, cfg, req)
	if recovered != "" {
		if err != nil {
			return nil, fmt.Errorf("%s; then: %w", recovered, err)
		}
		res.Recovered = recovered
	}
	return res, err
}

func (c *Client) installOrUpgrade(ctx context.Context, cfg *action.Configuration, req Request) (*Result, error) {
	_, err := cfg.Releases.Last(req.Name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return c.install(ctx, cfg, req)
	}
	if err != nil {
		return nil, fmt.Errorf("read history of release %s/%s: %w", req.Namespace, req.Name, err)
	}

	up := action.NewUpgrade(cfg)
	up.Namespace = req.Namespace
	up.Wait = true
	up.Timeout = req.Timeout
	up.Labels = req.Labels
	rollout := c.rolloutPostRenderer(ctx, req)
	up.PostRenderer = postRendererFor(req, rollout)
	up.MaxHistory = maxHistory
	done := timed(c.observer, "upgrade")
	// Helm's own cancellation marks the release failed on this goroutine
	// while its install goroutine goes on writing the same release (a data
	// race in Helm); cancellation reaches the action through the wait
	// instead (waitingClient), which Helm handles on one goroutine.
	rel, err := up.RunWithContext(context.WithoutCancel(ctx), req.Name, req.Chart, req.Values)
	done()
	if err != nil {
		return nil, c.explainFailure(ctx, "upgrade", req, rel, err)
	}
	res, err := resultOf(rel)
	if res != nil {
		res.ForcedRecreate = rollout.Forced()
	}
	return res, err
}

// maxHistory bounds the revisions kept per release, as `helm upgrade
// --history-max` does by default.
const maxHistory = 10

// explainFailure wraps a failed action's error with the workloads of the
// release that are not ready, when the release got as far as being applied.
func (c *Client) explainFailure(ctx context.Context, verb string, req Request, rel *release.Release, err error) error {
	err = fmt.Errorf("helm %s of release %s/%s: %w", verb, req.Namespace, req.Name, err)
	if rel == nil || rel.Manifest == "" {
		return err
	}
	res, perr := resultOf(rel)
	if perr != nil {
		return err
	}
	if why := c.notReady(ctx, res.Workloads); why != "" {
		return fmt.Errorf("%w; not ready: %s", err, why)
	}
	return err
}
