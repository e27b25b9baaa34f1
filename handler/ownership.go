package handler

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/helm-service/helm-service/pkg/deployed"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
)

// NamespaceClaimer checks that a namespace belongs to a project and stage
// (kube.Namespaces implements it).
type NamespaceClaimer interface {
	// Claim returns nil for a namespace that does not exist or that
	// helm-service created for owner, and a *kube.NamespaceNotOwnedError
	// for any other unless adopt is set: it then labels the namespace as
	// owner's and returns the labels it had.
	Claim(ctx context.Context, name string, owner kube.Owner, adopt bool) (adopted map[string]string, err error)
}

// ReleaseReader reads the newest record of a release.
type ReleaseReader interface {
	// Get returns the newest revision of a release; the error wraps
	// helm.ErrNotFound when there is none.
	Get(ctx context.Context, namespace, name string) (*helm.Record, error)
}

// Ownership is the step before every task on a service: the target's
// namespace must not exist yet or have been created by helm-service for
// the trigger's project and stage, and each release the task touches must
// not exist yet or have a newest record labelled with the trigger's
// project, stage and service. Anything else is refused, naming what it
// found, unless ADOPT_NAMESPACES or ADOPT_RELEASES hands it over.
type Ownership struct {
	Namespaces NamespaceClaimer
	Releases   ReleaseReader
	// AdoptNamespace says whether a namespace may be handed over
	// (ADOPT_NAMESPACES); nil adopts none.
	AdoptNamespace func(namespace string) bool
	// AdoptRelease says whether a release, namespace/name, may be handed
	// over (ADOPT_RELEASES); nil adopts none.
	AdoptRelease func(key string) bool
}

// check refuses the trigger's task when its target is not the trigger's
// (see Ownership). A target without a project, stage and service (service
// removal, which checks each record itself, or a trigger the task
// refuses) is not checked; nor is anything when o is nil. A dry run
// labels nothing: a namespace ADOPT_NAMESPACES matches passes as it is.
func (o *Ownership) check(ctx context.Context, t Trigger, dryRun bool) error {
	target := t.Target
	if o == nil || target.Namespace == "" || target.Project == "" || target.Stage == "" || target.Service == "" {
		return nil
	}
	adoptNamespace := o.AdoptNamespace != nil && o.AdoptNamespace(target.Namespace)
	// A dry run writes nothing: a namespace it would adopt passes unlabelled.
	adopted, err := o.Namespaces.Claim(ctx, target.Namespace, kube.Owner{Project: target.Project, Stage: target.Stage}, adoptNamespace && !dryRun)
	var notOwned *kube.NamespaceNotOwnedError
	switch {
	case dryRun && adoptNamespace && errors.As(err, &notOwned):
	case err != nil:
		return err
	}
	if adopted != nil {
		t.Log.Info("adopted namespace (ADOPT_NAMESPACES): labelled as the project's and stage's", "namespace", target.Namespace, "labelsBefore", adopted)
	}
	owner := deployed.Owner{Project: target.Project, Stage: target.Stage, Service: target.Service}
	for _, key := range target.Releases {
		namespace, name, _ := strings.Cut(key, "/")
		rec, err := getOnce(ctx, o.Releases, namespace, name)
		switch {
		case errors.Is(err, helm.ErrNotFound):
			continue
		case err != nil:
			return fmt.Errorf("check which service release %s belongs to: %w", key, err)
		}
		err = deployed.CheckOwner(rec, owner)
		switch {
		case err == nil, deployed.OfSibling(rec, owner):
			// Another service's release of the project and stage: that
			// service's tasks act on it, and a deployment refuses to share it.
			continue
		case o.AdoptRelease != nil && o.AdoptRelease(key):
			t.Log.Info("adopting release (ADOPT_RELEASES): its next record carries the service's labels", "release", key, "revision", rec.Revision, "labels", rec.Labels)
			continue
		}
		return err
	}
	return nil
}
