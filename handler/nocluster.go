package handler

import (
	"context"
	"time"

	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
	"github.com/helm-service/helm-service/pkg/routing"
)

// NoCluster stands in for the collaborators that act on the Kubernetes
// cluster when none is configured: it is Releases, Namespaces, Router and
// Scaler, and every method fails with kube.ErrNoCluster. The task
// constructors put it in place of a nil collaborator.
//
// The tasks check for it (noCluster) after validating a trigger and before
// any other work, so that a trigger is answered with kube.ErrNoCluster as
// it is, never with a chart loaded first or the error wrapped in what the
// task was about to do.
type NoCluster struct{}

var (
	_ Releases   = NoCluster{}
	_ Namespaces = NoCluster{}
	_ Router     = NoCluster{}
	_ Scaler     = NoCluster{}
	_ Restarter  = NoCluster{}
)

// noCluster returns kube.ErrNoCluster when any of collaborators is
// NoCluster, else nil.
func noCluster(collaborators ...any) error {
	for _, c := range collaborators {
		if isNoCluster(c) {
			return kube.ErrNoCluster
		}
	}
	return nil
}

// isNoCluster reports whether c is NoCluster.
func isNoCluster(c any) bool {
	_, ok := c.(NoCluster)
	return ok
}

// clusterOr returns c, or NoCluster in its place when c is nil. T is one
// of the interfaces NoCluster implements.
func clusterOr[T any](c T) T {
	if any(c) == nil {
		return any(NoCluster{}).(T)
	}
	return c
}

// Upgrade implements Releases.
func (NoCluster) Upgrade(context.Context, helm.Request) (*helm.Result, error) {
	return nil, kube.ErrNoCluster
}

// Get implements Releases.
func (NoCluster) Get(context.Context, string, string) (*helm.Record, error) {
	return nil, kube.ErrNoCluster
}

// Find implements Releases.
func (NoCluster) Find(context.Context, string, map[string]string) ([]*helm.Record, error) {
	return nil, kube.ErrNoCluster
}

// Rollback implements Releases.
func (NoCluster) Rollback(context.Context, string, string, time.Duration) (*helm.Result, error) {
	return nil, kube.ErrNoCluster
}

// Uninstall implements Releases.
func (NoCluster) Uninstall(context.Context, string, string, time.Duration) error {
	return kube.ErrNoCluster
}

// Ensure implements Namespaces.
func (NoCluster) Ensure(context.Context, string, map[string]string) error {
	return kube.ErrNoCluster
}

// DeleteIfEmpty implements Namespaces.
func (NoCluster) DeleteIfEmpty(context.Context, string) (bool, string, error) {
	return false, "", kube.ErrNoCluster
}

// List implements Namespaces.
func (NoCluster) List(context.Context) ([]string, error) { return nil, kube.ErrNoCluster }

// Route implements Router.
func (NoCluster) Route(context.Context, routing.Target, routing.Split) error {
	return kube.ErrNoCluster
}

// Split implements Router.
func (NoCluster) Split(context.Context, routing.Target) (routing.Split, error) {
	return routing.Split{}, kube.ErrNoCluster
}

// Remove implements Router.
func (NoCluster) Remove(context.Context, string, string) ([]string, error) {
	return nil, kube.ErrNoCluster
}

// Scale implements Scaler.
func (NoCluster) Scale(context.Context, []kube.Workload, int32) error { return kube.ErrNoCluster }

// ScaleUpFromZero implements Scaler.
func (NoCluster) ScaleUpFromZero(context.Context, []kube.Workload) error { return kube.ErrNoCluster }

// ScaleBy implements Scaler.
func (NoCluster) ScaleBy(context.Context, kube.Workload, int32, int32) (kube.Change, error) {
	return kube.Change{}, kube.ErrNoCluster
}

// Replicas implements Scaler.
func (NoCluster) Replicas(context.Context, kube.Workload) (int32, error) {
	return 0, kube.ErrNoCluster
}

// Kept implements Scaler.
func (NoCluster) Kept(context.Context, []kube.Workload) (map[kube.Workload]int32, error) {
	return nil, kube.ErrNoCluster
}

// DropKept implements Scaler.
func (NoCluster) DropKept(context.Context, kube.Workload) error { return kube.ErrNoCluster }

// Autoscaler implements Scaler.
func (NoCluster) Autoscaler(context.Context, kube.Workload) (string, error) {
	return "", kube.ErrNoCluster
}

// WaitScaled implements Scaler.
func (NoCluster) WaitScaled(context.Context, []kube.Workload) error { return kube.ErrNoCluster }

// Restart implements Restarter.
func (NoCluster) Restart(context.Context, kube.Workload, time.Time) (string, error) {
	return "", kube.ErrNoCluster
}

// WaitRolledOut implements Restarter.
func (NoCluster) WaitRolledOut(context.Context, []kube.Workload) error { return kube.ErrNoCluster }
