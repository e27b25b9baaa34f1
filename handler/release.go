package handler

import (
	"context"
	"fmt"

	"github.com/helm-service/helm-service/pkg/events"
)

// Release handles sh.keptn.event.release.triggered: with result pass or
// warning it promotes a blue/green service's canary; with fail it reverts
// the service (see lifecycle.revert).
type Release struct {
	lifecycle
	// previewer serves dry runs; nil without a cluster.
	previewer *previewer
}

// NewRelease returns the release task. releases, router and scaler are
// NoCluster (or nil, which stands for it) when no cluster is configured.
// The dispatcher runs it in the lanes of every release the service can
// have.
func NewRelease(releases Releases, router Router, scaler Scaler, settings LifecycleSettings) *Release {
	return &Release{lifecycle: newLifecycle(releases, router, scaler, settings)}
}

// WithVariables gives the task the variable groups: a promotion then
// checks the canary's variable snapshot and hands it to the primary. It
// returns r.
func (r *Release) WithVariables(v Variables) *Release {
	r.variables = v
	return r
}

// Name implements Task.
func (r *Release) Name() string { return events.TaskRelease }

// Run implements Task.
func (r *Release) Run(ctx context.Context, t Trigger) (events.Finished, error) {
	in, err := decodeStrict[events.ReleaseTriggered](t.Event.Data(), t.Event.Type())
	if err != nil {
		return nil, err
	}
	if err := in.ValidateTarget(); err != nil {
		return nil, err
	}
	promote := true
	switch in.Result {
	case "", events.ResultPass, events.ResultWarning:
		// As Keptn: anything but fail promotes.
	case events.ResultFail:
		promote = false
	default:
		return nil, fmt.Errorf("result %q is not a Keptn result: release needs pass, warning (promote) or fail (roll back)", in.Result)
	}
	if in.Deployment != nil && in.Deployment.DryRun {
		return r.preview(ctx, t, promote)
	}
	d, err := r.prepare(ctx, t.Target)
	if err != nil {
		return nil, err
	}
	// Read the releases again before acting on them.
	if d, err = r.find(ctx, d.Namespace, d.Name); err != nil {
		return nil, err
	}
	var outcome *events.Outcome
	var msg string
	if promote {
		outcome, msg, err = r.promote(ctx, t, d)
	} else {
		outcome, msg, err = r.revert(ctx, t, d, events.StringExtension(t.Event, events.ExtContext))
	}
	if err != nil {
		return nil, err
	}
	outcome.Strategy, outcome.Namespace = string(d.Strategy), d.Namespace
	out := &events.ReleaseFinished{Release: outcome}
	out.Message = msg
	return out, nil
}
