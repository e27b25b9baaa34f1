package helm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"

	"github.com/helm-service/helm-service/pkg/kube"
	"github.com/helm-service/helm-service/pkg/tasklog"
)

// DefaultPendingAge is how old a pending release must be before it is
// recovered, unless SetPendingAge says otherwise.
const DefaultPendingAge = 10 * time.Minute

// ErrPendingRelease is wrapped by the error for a release that another
// operation may still be working on.
var ErrPendingRelease = errors.New("another Helm operation may still be in progress on the release")

// PendingError is the error for a release whose newest record is pending
// and too young to be recovered: another operation may still be working on
// it. It wraps ErrPendingRelease.
type PendingError struct {
	Namespace, Name string
	Status          string
	Revision        int
	// Age is how long ago the pending operation started.
	Age time.Duration
	// RecoverAfter is how much older the record must get before
	// helm-service recovers it (PendingAge - Age).
	RecoverAfter time.Duration
	PendingAge   time.Duration
}

func (e *PendingError) Error() string {
	return fmt.Sprintf("release %s/%s is %s at revision %d since %s ago: %s; helm-service recovers a pending release once it is older than %s (PENDING_RELEASE_AGE)",
		e.Namespace, e.Name, e.Status, e.Revision, e.Age, ErrPendingRelease, e.PendingAge)
}

func (e *PendingError) Unwrap() error { return ErrPendingRelease }

// exclusiveKey marks a context whose task holds its releases against every
// other helm-service (see WithExclusive).
type exclusiveKey struct{}

// WithExclusive marks ctx as that of a task that holds the cross-replica
// leases of the releases it works on: no other helm-service can be working
// on them. A pending record helm-service wrote is then left over from an
// operation that died with its process, and is recovered at once instead
// of after the pending age.
func WithExclusive(ctx context.Context) context.Context {
	return context.WithValue(ctx, exclusiveKey{}, true)
}

// exclusive reports whether ctx is marked by WithExclusive.
func exclusive(ctx context.Context) bool {
	on, _ := ctx.Value(exclusiveKey{}).(bool)
	return on
}

// writtenByHelmService reports whether a release record carries the labels
// helm-service puts on every record it writes. Another tool's operation
// (the helm CLI, a controller) takes no lease of helm-service's, so its
// pending records always get the pending age.
func writtenByHelmService(rel *release.Release) bool {
	for _, k := range []string{kube.LabelProject, kube.LabelStage, kube.LabelService} {
		if rel.Labels[k] == "" {
			return false
		}
	}
	return true
}

// helmPending is the text of the error Helm's actions return for a release
// whose newest record is pending (Helm does not export it).
const helmPending = "another operation (install/upgrade/rollback) is in progress"

// Pending reports whether err says that a release is pending: helm-service
// left it alone because it is too young to recover (ErrPendingRelease), or
// a Helm action refused to touch it.
func Pending(err error) bool {
	return err != nil && (errors.Is(err, ErrPendingRelease) || strings.Contains(err.Error(), helmPending))
}

// recoverPending finds a release left pending-install, pending-upgrade or
// pending-rollback by an operation that never ended (a crash, a killed
// process) and puts it back in a state Helm can work from. The caller holds
// the release: no task of this process runs on it. A pending record younger
// than the pending age may belong to an operation still running elsewhere;
// it is left alone and reported with ErrPendingRelease. The message says
// what was recovered, or is empty when nothing needed recovery.
func (c *Client) recoverPending(ctx context.Context, cfg *action.Configuration, req Request) (string, error) {
	last, err := cfg.Releases.Last(req.Name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read history of release %s/%s: %w", req.Namespace, req.Name, err)
	}
	if last.Info == nil || !last.Info.Status.IsPending() {
		return "", nil
	}
	status := last.Info.Status
	age := c.now().Sub(last.Info.LastDeployed.Time).Round(time.Second)
	leased := exclusive(ctx) && writtenByHelmService(last)
	if age < c.pendingAge && !leased {
		return "", &PendingError{Namespace: req.Namespace, Name: req.Name, Status: string(status), Revision: last.Version, Age: age, RecoverAfter: c.pendingAge - age, PendingAge: c.pendingAge}
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	history, err := cfg.Releases.History(req.Name)
	if err != nil {
		return "", fmt.Errorf("read history of release %s/%s: %w", req.Namespace, req.Name, err)
	}
	target := lastGood(history, last.Version)
	what := fmt.Sprintf("release %s/%s was left %s at revision %d by an operation that did not end (%s ago)", req.Namespace, req.Name, status, last.Version, age)
	if leased && age < c.pendingAge {
		what = fmt.Sprintf("release %s/%s was left %s at revision %d by a helm-service that stopped mid-operation (%s ago; its lease on the release had expired, so none was still working on it)", req.Namespace, req.Name, status, last.Version, age)
	}
	tasklog.From(ctx, c.log).Warn("recovering a pending release", "namespace", req.Namespace, "release", req.Name, "status", status, "revision", last.Version, "age", age.String(), "leased", leased)

	if target == nil {
		// Never deployed: nothing to go back to.
		un := action.NewUninstall(cfg)
		un.Timeout = req.Timeout
		done := timed(c.observer, "uninstall")
		_, err := un.Run(req.Name)
		done()
		if err != nil {
			return "", fmt.Errorf("%s; uninstalling it failed: %w", what, err)
		}
		c.observer.ReleaseRecovered()
		return what + "; it had never been deployed, so helm-service uninstalled it", nil
	}

	last.SetStatus(release.StatusFailed, fmt.Sprintf("%s interrupted; marked failed by helm-service", status))
	if err := cfg.Releases.Update(last); err != nil {
		return "", fmt.Errorf("%s; marking it failed: %w", what, err)
	}
	rb := action.NewRollback(cfg)
	rb.Version = target.Version
	rb.Wait = true
	rb.Timeout = req.Timeout
	rb.MaxHistory = maxHistory
	done := timed(c.observer, "rollback")
	err = rb.Run(req.Name)
	done()
	if err != nil {
		return "", fmt.Errorf("%s; marked it failed, but rolling back to revision %d failed: %w", what, target.Version, err)
	}
	c.observer.ReleaseRecovered()
	return fmt.Sprintf("%s; helm-service marked it failed and rolled back to revision %d", what, target.Version), nil
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
