// Package deployed is one model of a Keptn service as helm-service
// deployed it: the Helm releases a service has per deployment strategy, the
// labels on their records and objects, and what the records say (the
// strategy; the direct, primary and canary records; workloads listed
// outside the release's namespace). Release, rollback, scaling, removal
// and `helm-service status` read a service through it.
package deployed

import (
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/kube"
)

// Side is one of the two Helm releases of a blue/green service, its
// primary or its canary. It is also the value of kube.LabelDeployment on
// the release record and on every object and pod of the release.
//
// The release of a side is <service>-<side>. Every object of the chart
// must be named after the release (as `helm create` charts are), so that
// both sides can live in one namespace. The stable Service of each chart
// Service takes the chart Service's name with the release name replaced
// by the service name, e.g. carts-primary-db → carts-db.
type Side string

// The sides of a blue/green service.
const (
	Primary Side = "primary"
	Canary  Side = "canary"
)

// ReleaseName is the release of one side of blue/green service service.
func ReleaseName(service string, side Side) string { return service + "-" + string(side) }

// PrimaryName is the primary release of blue/green service service.
func PrimaryName(service string) string { return ReleaseName(service, Primary) }

// CanaryName is the canary release of blue/green service service.
func CanaryName(service string) string { return ReleaseName(service, Canary) }

// ReleaseNames are the releases a service can have, whatever its strategy:
// <service> (direct, user_managed), <service>-primary and <service>-canary
// (blue/green).
func ReleaseNames(service string) []string {
	return []string{service, PrimaryName(service), CanaryName(service)}
}

// StrategyReleaseNames are the releases a deployment of service with the
// strategy writes.
func StrategyReleaseNames(service string, strategy events.Strategy) []string {
	if strategy == events.StrategyBlueGreen {
		return []string{PrimaryName(service), CanaryName(service)}
	}
	return []string{service}
}

// RecordLabels are the labels of the release record of a blue/green side:
// the project, stage and service of base, the strategy and the side.
func RecordLabels(base map[string]string, side Side) map[string]string {
	out := make(map[string]string, len(base)+2)
	for _, k := range []string{kube.LabelProject, kube.LabelStage, kube.LabelService} {
		if v, ok := base[k]; ok {
			out[k] = v
		}
	}
	out[kube.LabelStrategy] = string(events.StrategyBlueGreen)
	out[kube.LabelDeployment] = string(side)
	return out
}

// ObjectLabels are put on every object and pod of a blue/green side.
func ObjectLabels(service string, side Side) map[string]string {
	return map[string]string{kube.LabelService: service, kube.LabelDeployment: string(side)}
}
