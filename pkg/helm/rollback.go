package helm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
)

// ErrNoPreviousRevision is returned when a release has no earlier revision
// that was deployed, so nothing to roll back to.
var ErrNoPreviousRevision = errors.New("no previous revision to roll back to")

// Rollback rolls a release back to the newest revision before its newest
// one that was deployed (status deployed or superseded; failed and pending
// revisions are skipped) and waits until its workloads are ready. It
// returns the release as it is afterwards: a new revision carrying the
// chart and values of the revision it rolled back to. Whether a pending
// release is to be recovered instead is for the caller to decide.
func (c *Client) Rollback(ctx context.Context, namespace, name string, timeout time.Duration) (*Result, error) {
	cfg, last, err := c.newest(ctx, namespace, name, "roll back release")
	if err != nil {
		return nil, err
	}
	history, err := cfg.Releases.History(name)
	if err != nil {
		return nil, fmt.Errorf("read history of release %s/%s: %w", namespace, name, err)
	}
	target := lastGood(history, last.Version)
	if target == nil {
		return nil, fmt.Errorf("roll back release %s/%s from revision %d: %w: %s", namespace, name, last.Version, ErrNoPreviousRevision, neverDeployed(history, last.Version))
	}
	if err := checkStored(cfg, last, target); err != nil {
		return nil, fmt.Errorf("refused to roll back release %s/%s: %w", namespace, name, err)
	}

	rb := action.NewRollback(cfg)
	rb.Version = target.Version
	rb.Wait = true
	rb.Timeout = timeout
	rb.MaxHistory = c.maxHistory
	rb.CleanupOnFail = false
	// The Helm SDK's rollback takes no context: run it aside and stop
	// waiting for it when ctx ends.
	defer timed(c.observer, "rollback")()
	defer phasesOf(ctx).end(false)
	done := make(chan error, 1)
	go func() { done <- rb.Run(name) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		return nil, fmt.Errorf("roll back release %s/%s: %w", namespace, name, ctx.Err())
	}
	req := Request{Namespace: namespace, Name: name, Timeout: timeout}
	if err != nil {
		rel, _ := cfg.Releases.Last(name)
		return nil, c.explainFailure(ctx, fmt.Sprintf("rollback to revision %d", target.Version), req, rel, err)
	}
	rel, err := cfg.Releases.Last(name)
	if err != nil {
		return nil, fmt.Errorf("read release %s/%s after rollback: %w", namespace, name, err)
	}
	res, err := resultOf(rel)
	if res != nil {
		res.RolledBackTo = target.Version
	}
	return res, err
}

// neverDeployed says what became of the revisions before newest, none of
// which was deployed.
func neverDeployed(history []*release.Release, newest int) string {
	sorted := slices.Clone(history)
	slices.SortFunc(sorted, func(a, b *release.Release) int { return a.Version - b.Version })
	var earlier []string
	for _, r := range sorted {
		if r.Version < newest {
			status := "unknown"
			if r.Info != nil {
				status = r.Info.Status.String()
			}
			earlier = append(earlier, fmt.Sprintf("revision %d %s", r.Version, status))
		}
	}
	if len(earlier) == 0 {
		return fmt.Sprintf("revision %d is the release's only one; deploy a version that works instead", newest)
	}
	return fmt.Sprintf("no revision before %d was ever deployed (%s); deploy a version that works instead", newest, strings.Join(earlier, ", "))
}
