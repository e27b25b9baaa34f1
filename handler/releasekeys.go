package handler

import (
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/lanes"
)

// ReleaseToucher is a Task that names the Helm releases a trigger's work
// touches, in the trigger's namespace. The dispatcher queues the task, and
// takes the leases, of each of them: tasks that share a release run one
// after the other, whichever service they are for. A task that does not
// say touches every release its service can have (serviceReleases).
type ReleaseToucher interface {
	TouchedReleases(t Trigger) []string
}

// touchedReleases are the releases a trigger's task touches.
func touchedReleases(task Task, t Trigger) []string {
	if rt, ok := task.(ReleaseToucher); ok {
		return rt.TouchedReleases(t)
	}
	return serviceReleases(t.Common.Service)
}

// serviceReleases are the releases a service can have, whatever its
// strategy: <service> (direct, user_managed) and <service>-primary and
// <service>-canary (blue/green). Release, rollback and scaling learn the
// strategy from the releases themselves, so they touch all of them.
func serviceReleases(service string) []string {
	return []string{service, primaryName(service), canaryName(service)}
}

// deploymentReleases are the releases a deployment with the strategy
// writes.
func deploymentReleases(service string, strategy events.Strategy) []string {
	if strategy == events.StrategyBlueGreen {
		return []string{primaryName(service), canaryName(service)}
	}
	return []string{service}
}

// releaseKeys are the lane and lease keys of releases of a namespace:
// "<namespace>/<name>", each once, in lanes.KeyOrder.
func releaseKeys(namespace string, names []string) []string { return lanes.Keys(namespace, names) }

// TouchedReleases implements ReleaseToucher: release and rollback act on
// whichever releases the service has.
func (l *lifecycle) TouchedReleases(t Trigger) []string { return serviceReleases(t.Common.Service) }

// TouchedReleases implements ReleaseToucher: scaling acts on the live
// release, <service> or <service>-primary.
func (a *Action) TouchedReleases(t Trigger) []string { return serviceReleases(t.Common.Service) }
