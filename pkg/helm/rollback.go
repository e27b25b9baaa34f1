package helm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/storage/driver"
)

// ErrNoPreviousRevision is returned when a release has nothing to roll back
// to.
var ErrNoPreviousRevision = errors.New("no previous revision to roll back to")

// Rollback rolls a release back to the revision before its newest one and
// waits until its workloads are ready. It returns the release as it is
// afterwards: a new revision carrying the previous one's chart and values.
func (c *Client) Rollback(ctx context.Context, namespace, name string, timeout time.Duration) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg, err := c.newConfig(ctx, namespace)
	if err != nil {
		return nil, err
	}
	last, err := cfg.Releases.Last(name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, fmt.Errorf("roll back release %s/%s: %w", namespace, name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read history of release %s/%s: %w", namespace, name, err)
	}
	if last.Version < 2 {
		return nil, fmt.Errorf("roll back release %s/%s from revision %d: %w", namespace, name, last.Version, ErrNoPreviousRevision)
	}
	rb := action.NewRollback(cfg)
	rb.Wait = true
	rb.Timeout = timeout
	rb.MaxHistory = maxHistory
	rb.CleanupOnFail = false
	// The Helm SDK's rollback takes no context: run it aside and stop
	// waiting for it when ctx ends.
	defer timed(c.observer, "rollback")()
	done := make(chan error, 1)
	go func() { done <- rb.Run(name) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		return nil, fmt.Errorf("roll back release %s/%s: %w", namespace, name, ctx.Err())
	}
	if err != nil {
		req := Request{Namespace: namespace, Name: name}
		rel, _ := cfg.Releases.Last(name)
		return nil, c.explainFailure(ctx, "rollback", req, rel, err)
	}
	rel, err := cfg.Releases.Last(name)
	if err != nil {
		return nil, fmt.Errorf("read release %s/%s after rollback: %w", namespace, name, err)
	}
	return resultOf(rel)
}
