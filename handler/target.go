package handler

import (
	"github.com/helm-service/helm-service/pkg/deployed"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/lanes"
)

// Target is what a trigger is for, resolved once by the dispatcher before
// the task runs: the service, the namespace it lives in (from the
// namespace template, allowed by the allow-list), the releases the task
// touches and the trigger's context.
type Target struct {
	Project, Stage, Service string
	// Namespace is empty when the trigger names no project and stage.
	Namespace string
	// Releases are the release keys (namespace/name) the task touches, in
	// lanes.KeyOrder; none when the trigger names no service.
	Releases []string
	// Strategy is the deployment strategy, for the tasks that know it
	// from the trigger (deployments); empty otherwise.
	Strategy events.Strategy
	// KeptnContext and GitCommit are the trigger's shkeptncontext and
	// gitcommitid.
	KeptnContext, GitCommit string
}

// resolveTarget resolves the target of a trigger for task. The namespace
// is computed once the trigger names a project and stage; an error of the
// namespace template or the allow-list counts only for a trigger that also
// names a service, which the task then works on.
func (d *Dispatcher) resolveTarget(task Task, t Trigger) (Target, error) {
	c := t.Common
	target := Target{
		Project: c.Project, Stage: c.Stage, Service: c.Service,
		KeptnContext: events.StringExtension(t.Event, events.ExtContext),
		GitCommit:    events.StringExtension(t.Event, events.ExtGitCommitID),
	}
	if st, ok := task.(StrategyTeller); ok {
		target.Strategy = st.TriggerStrategy(t)
	}
	if c.Project == "" || c.Stage == "" {
		return target, nil
	}
	namespace, err := targetNamespace(d.opts.NamespaceTemplate, c)
	if c.Service == "" {
		if err == nil {
			target.Namespace = namespace
		}
		return target, nil
	}
	if err != nil {
		return target, err
	}
	target.Namespace = namespace
	if d.opts.AllowNamespace != nil {
		if err := d.opts.AllowNamespace(namespace); err != nil {
			return target, err
		}
	}
	target.Releases = lanes.Keys(namespace, touchedReleases(task, t))
	return target, nil
}

// touchedReleases are the releases a trigger's task touches: those it
// names, else every release its service can have, whatever its strategy
// (release, rollback and scaling learn the strategy from the releases
// themselves).
func touchedReleases(task Task, t Trigger) []string {
	if rt, ok := task.(ReleaseToucher); ok {
		return rt.TouchedReleases(t)
	}
	return deployed.ReleaseNames(t.Common.Service)
}
