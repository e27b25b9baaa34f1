package reconcile

import (
	"context"
	"fmt"
	"time"

	"github.com/helm-service/helm-service/pkg/helm"
)

// Rollback rolls a release back to its newest earlier revision that was
// deployed (see helm.Client.Rollback). A release left pending by an
// operation that ended is recovered instead: the recovery rolls back to the
// same revision, and is the rollback. One that may still be worked on is
// left alone with a *helm.PendingError.
func (r *Releases) Rollback(ctx context.Context, namespace, name string, timeout time.Duration) (*helm.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for range maxSteps {
		obs, err := r.observe(ctx, namespace, name)
		if err != nil {
			return nil, err
		}
		switch obs.state {
		case absent:
			return nil, fmt.Errorf("roll back release %s/%s: %w", namespace, name, helm.ErrNotFound)
		case settled:
			return r.client.Rollback(ctx, namespace, name, timeout)
		case busy:
			return nil, r.pendingError(obs)
		case abandoned:
			recovered, rec, err := r.recover(ctx, obs, timeout)
			if changed(err) {
				continue
			}
			if err != nil {
				return nil, err
			}
			return r.recoveredRollback(ctx, namespace, name, recovered, rec)
		}
	}
	return nil, changedTooOften(namespace, name)
}

// recoveredRollback answers a rollback whose release was recovered: the
// recovery rolled it back, or uninstalled it when it had never been
// deployed.
func (r *Releases) recoveredRollback(ctx context.Context, namespace, name, recovered string, rec *helm.Recovery) (*helm.Result, error) {
	if rec.RolledBackTo == 0 {
		return nil, fmt.Errorf("%s; roll back release %s/%s: %w", recovered, namespace, name, helm.ErrNoPreviousRevision)
	}
	after, err := r.client.Get(ctx, namespace, name)
	if err != nil {
		return nil, fmt.Errorf("%s; read release %s/%s after its recovery: %w", recovered, namespace, name, err)
	}
	res := after.Result
	res.Recovered = recovered
	res.RolledBackTo = rec.RolledBackTo
	return &res, nil
}
