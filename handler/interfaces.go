package handler

import (
	"context"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"helm.sh/helm/v3/pkg/chart"

	"github.com/helm-service/helm-service/pkg/charts"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
	"github.com/helm-service/helm-service/pkg/routing"
	"github.com/helm-service/helm-service/pkg/vargroups"
)

// The collaborators of the handlers. Implementations live in eventbus and
// pkg/*; mocks for unit tests are generated into mocks/.
//go:generate go run github.com/golang/mock/mockgen@v1.6.0 -source=interfaces.go -destination=mocks/mocks.go -package=mocks

// Publisher sends events on the bus.
type Publisher interface {
	Publish(ctx context.Context, e cloudevents.Event) error
}

// ChartSource finds the chart of a service.
type ChartSource interface {
	Load(ctx context.Context, ref charts.Ref) (*chart.Chart, error)
}

// Releases installs, upgrades, reads and rolls back Helm releases.
type Releases interface {
	Upgrade(ctx context.Context, req helm.Request) (*helm.Result, error)
	// Get returns the newest revision of a release; the error wraps
	// helm.ErrNotFound when there is none.
	Get(ctx context.Context, namespace, name string) (*helm.Record, error)
	// Find returns the newest revision of the releases carrying labels.
	Find(ctx context.Context, namespace string, labels map[string]string) ([]*helm.Record, error)
	// Rollback rolls a release back to its newest earlier revision that
	// was deployed, recovering a pending release first.
	Rollback(ctx context.Context, namespace, name string, timeout time.Duration) (*helm.Result, error)
	// Uninstall removes a release and its history; the error wraps
	// helm.ErrNotFound when there is none.
	Uninstall(ctx context.Context, namespace, name string, timeout time.Duration) error
}

// Namespaces prepares the namespace a release goes into.
type Namespaces interface {
	Ensure(ctx context.Context, name string, labels map[string]string) error
	// DeleteIfEmpty deletes a namespace helm-service created once nothing
	// its deletion would lose is left in it. It reports whether it did
	// and, when it kept a namespace that exists, why.
	DeleteIfEmpty(ctx context.Context, name string) (deleted bool, kept string, err error)
	// List returns the names of every namespace.
	List(ctx context.Context) ([]string, error)
}

// Router routes a blue/green service's stable endpoint between its primary
// and its canary (see routing.Router).
type Router interface {
	Route(ctx context.Context, t routing.Target, s routing.Split) error
	Split(ctx context.Context, t routing.Target) (routing.Split, error)
	// Remove deletes the routing objects of a service in a namespace and
	// names them.
	Remove(ctx context.Context, namespace, service string) ([]string, error)
}

// Scaler sets the replicas of workloads.
type Scaler interface {
	Scale(ctx context.Context, workloads []kube.Workload, replicas int32) error
	// ScaleUpFromZero sets the workloads that have zero replicas to one.
	ScaleUpFromZero(ctx context.Context, workloads []kube.Workload) error
	// ScaleBy adds delta to a workload's replicas as kube.NextReplicas
	// says and records the new count on it.
	ScaleBy(ctx context.Context, w kube.Workload, delta, maxReplicas int32) (kube.Change, error)
	// Replicas returns the replicas a workload asks for now.
	Replicas(ctx context.Context, w kube.Workload) (int32, error)
	// Kept returns the counts ScaleBy recorded on the workloads.
	Kept(ctx context.Context, workloads []kube.Workload) (map[kube.Workload]int32, error)
	// DropKept removes the count ScaleBy recorded on a workload.
	DropKept(ctx context.Context, w kube.Workload) error
	// Autoscaler names the HorizontalPodAutoscaler that targets a
	// workload, or returns "" when none does.
	Autoscaler(ctx context.Context, w kube.Workload) (string, error)
	// WaitScaled waits until the workloads run their desired replicas,
	// all ready.
	WaitScaled(ctx context.Context, workloads []kube.Workload) error
}

// Variables writes the variable groups of services and the snapshots of
// blue/green services (see vargroups.Store).
type Variables interface {
	// Apply merges changes into the namespace's global group and the
	// service's group and returns the names of the variables that
	// changed and both groups as they are afterwards.
	Apply(ctx context.Context, namespace, service string, global, svc vargroups.Changes) ([]string, vargroups.Groups, error)
	// Preview returns what Apply would, writing nothing.
	Preview(ctx context.Context, namespace, service string, global, svc vargroups.Changes) ([]string, vargroups.Groups, error)
	// Snapshot stores groups as an immutable snapshot of the service's
	// variables and returns it.
	Snapshot(ctx context.Context, namespace, service string, groups vargroups.Groups) (vargroups.Snapshot, error)
	// ReadSnapshot reads and checks the service's snapshot id.
	ReadSnapshot(ctx context.Context, namespace, service, id string) (vargroups.Snapshot, error)
	// CollectSnapshots deletes the service's snapshots whose ID is not in
	// keep and names those it deleted.
	CollectSnapshots(ctx context.Context, namespace, service string, keep []string) ([]string, error)
}

// VariableGroups deletes the variable group of a removed service (see
// vargroups.Store).
type VariableGroups interface {
	// DeleteService deletes the service group and the blue/green
	// snapshots of service in namespace and returns their namespace/name.
	DeleteService(ctx context.Context, namespace, service string) ([]string, error)
}
