package handler

import (
	"context"

	"github.com/helm-service/helm-service/pkg/events"
)

// Rollback handles sh.keptn.event.rollback.triggered, which Keptn sends
// after a failed delivery: it reverts the service as a failed release does,
// for every strategy, and reports pass when that worked.
type Rollback struct {
	lifecycle
}

// NewRollback returns the rollback task; see NewRelease.
func NewRollback(releases Releases, router Router, scaler Scaler, settings LifecycleSettings) *Rollback {
	return &Rollback{newLifecycle(releases, router, scaler, settings)}
}

// Name implements Task.
func (r *Rollback) Name() string { return events.TaskRollback }

// Run implements Task.
func (r *Rollback) Run(ctx context.Context, t Trigger) (events.Finished, error) {
	in, err := decodeStrict[events.RollbackTriggered](t.Event.Data(), t.Event.Type())
	if err != nil {
		return nil, err
	}
	if err := in.ValidateTarget(); err != nil {
		return nil, err
	}
	d, err := r.prepare(ctx, t.Target)
	if err != nil {
		return nil, err
	}
	// Read the releases again before acting on them.
	if d, err = r.find(ctx, d.Namespace, d.Name); err != nil {
		return nil, err
	}
	outcome, msg, err := r.revert(ctx, t, d, events.StringExtension(t.Event, events.ExtContext))
	if err != nil {
		return nil, err
	}
	outcome.Strategy, outcome.Namespace = string(d.Strategy), d.Namespace
	out := &events.RollbackFinished{Rollback: outcome}
	out.Message = msg
	out.Result = events.ResultPass
	return out, nil
}
