package helm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
)

// ErrNotPending is wrapped by Recover's error when the newest record of the
// release is not pending (any more): nothing to recover.
var ErrNotPending = errors.New("the newest record of the release is not pending")

// Recovery is what Recover did.
type Recovery struct {
	// Status and Revision are those of the pending record.
	Status   string
	Revision int
	// RolledBackTo is the revision the release was rolled back to, or 0
	// when it had never been deployed and was uninstalled.
	RolledBackTo int
}

// Recover puts a release whose newest record is pending-install,
// pending-upgrade or pending-rollback back in a state Helm can work from:
// it marks the record failed and rolls back to the newest earlier revision
// that was deployed, or uninstalls a release that never was. Whether the
// operation that left the record pending has ended is for the caller to
// decide. The error wraps ErrNotPending when the newest record is not
// pending, and ErrNotFound when the release has none.
func (c *Client) Recover(ctx context.Context, namespace, name string, timeout time.Duration) (*Recovery, error) {
	cfg, last, err := c.newest(ctx, namespace, name, "recover release")
	if err != nil {
		return nil, err
	}
	if last.Info == nil || !last.Info.Status.IsPending() {
		return nil, fmt.Errorf("recover release %s/%s at revision %d: %w", namespace, name, last.Version, ErrNotPending)
	}
	history, err := cfg.Releases.History(name)
	if err != nil {
		return nil, fmt.Errorf("read history of release %s/%s: %w", namespace, name, err)
	}
	status := last.Info.Status
	rec := &Recovery{Status: string(status), Revision: last.Version}
	target := lastGood(history, last.Version)
	if err := checkStored(cfg, last, target); err != nil {
		return nil, fmt.Errorf("refused to recover it: %w", err)
	}
	if target == nil {
		// Never deployed: nothing to go back to.
		un := action.NewUninstall(cfg)
		un.Timeout = timeout
		done := timed(c.observer, "uninstall")
		_, err := un.Run(name)
		done()
		if err != nil {
			return nil, fmt.Errorf("uninstalling it failed: %w", err)
		}
		c.observer.ReleaseRecovered()
		return rec, nil
	}

	last.SetStatus(release.StatusFailed, fmt.Sprintf("%s interrupted; marked failed by helm-service", status))
	if err := cfg.Releases.Update(last); err != nil {
		return nil, fmt.Errorf("marking it failed: %w", err)
	}
	rb := action.NewRollback(cfg)
	rb.Version = target.Version
	rb.Wait = true
	rb.Timeout = timeout
	rb.MaxHistory = c.maxHistory
	done := timed(c.observer, "rollback")
	err = rb.Run(name)
	done()
	if err != nil {
		return nil, fmt.Errorf("marked it failed, but rolling back to revision %d failed: %w", target.Version, err)
	}
	c.observer.ReleaseRecovered()
	rec.RolledBackTo = target.Version
	return rec, nil
}

// lastGood is the newest revision before pending that was deployed.
func lastGood(history []*release.Release, pending int) *release.Release {
	var best *release.Release
	for _, r := range history {
		if r.Version >= pending || r.Info == nil {
			continue
		}
		switch r.Info.Status {
		case release.StatusDeployed, release.StatusSuperseded:
			if best == nil || r.Version > best.Version {
				best = r
			}
		}
	}
	return best
}
