package reconcile

import (
	"context"
	"fmt"

	"github.com/helm-service/helm-service/pkg/helm"
)

// Upgrade installs the release of req, or upgrades it when it exists, and
// waits until its workloads are ready. A chart missing a dependency its
// Chart.yaml declares is refused before anything is done. A release left
// pending by an operation that ended is recovered first, and the result
// says how; one that may still be worked on is left alone with a
// *helm.PendingError.
func (r *Releases) Upgrade(ctx context.Context, req helm.Request) (*helm.Result, error) {
	if err := helm.CheckDependencies(req.Chart); err != nil {
		return nil, err
	}
	recovered := ""
	for range maxSteps {
		obs, err := r.observe(ctx, req.Namespace, req.Name)
		if err != nil {
			return afterRecovery(recovered)(nil, err)
		}
		switch obs.state {
		case absent:
			return afterRecovery(recovered)(r.client.Install(ctx, req))
		case settled:
			return afterRecovery(recovered)(r.client.Upgrade(ctx, req))
		case busy:
			return afterRecovery(recovered)(nil, r.pendingError(obs))
		case abandoned:
			msg, _, err := r.recover(ctx, obs, req.Timeout)
			if err != nil && !changed(err) {
				return nil, err
			}
			if msg != "" {
				recovered = msg
			}
		}
	}
	return nil, changedTooOften(req.Namespace, req.Name)
}

// changedTooOften is the error for a release whose newest record changed
// between every read and the verb chosen from it: another operation works
// on it.
func changedTooOften(namespace, name string) error {
	return fmt.Errorf("release %s/%s changed %d times between helm-service reading it and acting on it: %w", namespace, name, maxSteps, helm.ErrPendingRelease)
}

// afterRecovery returns a func that puts what was recovered (if anything)
// into the outcome of the verb that followed.
func afterRecovery(recovered string) func(*helm.Result, error) (*helm.Result, error) {
	return func(res *helm.Result, err error) (*helm.Result, error) {
		if recovered == "" {
			return res, err
		}
		if err != nil {
			return nil, fmt.Errorf("%s; then: %w", recovered, err)
		}
		res.Recovered = recovered
		return res, nil
	}
}
