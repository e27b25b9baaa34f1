package helm

import (
	"context"
	"fmt"
	"strings"

	"helm.sh/helm/v3/pkg/postrender"
	"helm.sh/helm/v3/pkg/release"
)

// applyFunc runs an install or an upgrade whose post-renderer is pr.
type applyFunc func(ctx context.Context, pr postrender.PostRenderer) (*release.Release, error)

// apply is the tail install and upgrade share: it runs the action with the
// request's post-renderers, times it, and reads the release it left, or
// says why it failed.
func (c *Client) apply(ctx context.Context, verb string, req Request, run applyFunc) (*Result, error) {
	rollout := c.rolloutPostRenderer(ctx, req)
	done := timed(c.observer, verb)
	phases := phasesOf(ctx)
	// Helm's own cancellation marks the release failed on this goroutine
	// while its install goroutine goes on writing the same release (a data
	// race in Helm); cancellation reaches the action through the wait
	// instead (waitingClient), which Helm handles on one goroutine.
	rel, err := run(context.WithoutCancel(ctx), phases.marking(postRendererFor(req, rollout)))
	done()
	phases.end(true)
	if err != nil {
		return nil, c.explainFailure(ctx, verb, req, rel, refusedAsPending(err))
	}
	res, err := resultOf(rel)
	if res != nil {
		res.ForcedRecreate = rollout.Forced()
	}
	return res, err
}

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

// helmPending is the text of the error Helm's upgrade returns for a release
// whose newest record is pending (Helm does not export it).
const helmPending = "another operation (install/upgrade/rollback) is in progress"

// refusedAsPending turns Helm's refusal to upgrade a pending release into a
// RefusedError. The caller read the release's status before it chose the
// verb; only an operation that began in between makes Helm refuse, and only
// Helm's text tells. This is the one place that reads it.
func refusedAsPending(err error) error {
	if strings.Contains(err.Error(), helmPending) {
		return &RefusedError{Err: err}
	}
	return err
}
