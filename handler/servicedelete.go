package handler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/helm-service/helm-service/pkg/cdevents"
	"github.com/helm-service/helm-service/pkg/deployed"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
)

// ServiceDeleteSettings are the knobs of service removal.
type ServiceDeleteSettings struct {
	// WaitTimeout bounds the wait for each release's objects to be gone.
	WaitTimeout time.Duration
	// DeleteEmptyNamespaces deletes a namespace helm-service created once
	// the removal leaves nothing in it its deletion would lose.
	DeleteEmptyNamespaces bool
	// EventSources are the CloudEvents sources whose
	// service.delete.finished removes a service (DELETE_EVENT_SOURCES,
	// Keptn's shipyard-controller by default); the events of any other
	// source, another helm-service's answers among them, are ignored.
	EventSources []string
	// AllowNamespace says why a namespace may not be touched, or nil
	// (ALLOWED_NAMESPACES); nil allows every namespace.
	AllowNamespace func(namespace string) error
}

// ServiceDelete handles sh.keptn.event.service.delete.finished from the
// control plane: the service is gone from the project, so every Helm
// release helm-service made for it, in every stage, is uninstalled together
// with the routing objects of blue/green services and the service's
// variable group. It answers with its own service.delete.finished.
type ServiceDelete struct {
	releases   Releases
	router     Router
	namespaces Namespaces
	variables  VariableGroups
	settings   ServiceDeleteSettings
	// owners, when set, keeps the removal to namespaces helm-service
	// created for the records' project and stage.
	owners NamespaceClaimer
}

// NewServiceDelete returns the service removal task. The collaborators
// are NoCluster (or nil, which stands for it) when no cluster is
// configured. It holds each release it removes in the release's queue and
// lease as it goes (see Trigger.holdReleases).
func NewServiceDelete(releases Releases, router Router, namespaces Namespaces, settings ServiceDeleteSettings) *ServiceDelete {
	return &ServiceDelete{releases: tracedReleasesOf(clusterOr(releases)), router: tracedRouterOf(clusterOr(router)), namespaces: clusterOr(namespaces), settings: settings}
}

// WithVariables gives the task the variable groups: the removal then
// deletes the service's group in every namespace it removes the service
// from. It returns s.
func (s *ServiceDelete) WithVariables(v VariableGroups) *ServiceDelete {
	s.variables = v
	return s
}

// WithOwnership makes the removal leave alone the releases in a namespace
// that helm-service did not create for the project and stage their records
// name. It returns s.
func (s *ServiceDelete) WithOwnership(owners NamespaceClaimer) *ServiceDelete {
	s.owners = owners
	return s
}

// owned drops the services in namespaces not owned by their records'
// project and stage, and names their releases in removed.
func (s *ServiceDelete) owned(ctx context.Context, t Trigger, services []*deployed.Service, removed *events.Removed) ([]*deployed.Service, error) {
	if s.owners == nil {
		return services, nil
	}
	var out []*deployed.Service
	for _, d := range services {
		_, err := s.owners.Claim(ctx, d.Namespace, kube.Owner{Project: d.Project(), Stage: d.Stage()}, false)
		var notOwned *kube.NamespaceNotOwnedError
		switch {
		case errors.As(err, &notOwned):
			t.Log.Warn("releases left alone: their namespace is not helm-service's for their project and stage", "namespace", d.Namespace, "releases", d.ReleaseNames(), "reason", err)
			for _, r := range d.Records() {
				removed.NotOwned = append(removed.NotOwned, r.Namespace+"/"+r.Name)
			}
		case err != nil:
			return nil, err
		default:
			out = append(out, d)
		}
	}
	return out, nil
}

// Name implements Task.
func (s *ServiceDelete) Name() string { return events.TaskServiceDelete }

// Subject implements Listener: the task follows the control plane's
// service.delete.finished.
func (s *ServiceDelete) Subject() string {
	return events.Type(events.TaskServiceDelete, events.PhaseFinished)
}

// Accepts implements Accepter: only the control plane's events remove a
// service.
func (s *ServiceDelete) Accepts(t Trigger) bool {
	if slices.Contains(s.settings.EventSources, t.Event.Source()) {
		return true
	}
	t.Log.Info("service.delete.finished from a source DELETE_EVENT_SOURCES does not list: ignored", "source", t.Event.Source(), "sources", s.settings.EventSources)
	return false
}

// Run implements Task.
func (s *ServiceDelete) Run(ctx context.Context, t Trigger) (events.Finished, error) {
	in, err := decodeStrict[events.Common](t.Event.Data(), t.Event.Type())
	if err != nil {
		return nil, err
	}
	// No stage: the service is gone from every stage.
	if err := in.ValidateService(); err != nil {
		return nil, err
	}
	// Before the releases are searched, whose error the removal would wrap.
	if err := noCluster(s.releases, s.router, s.namespaces); err != nil {
		return nil, err
	}
	records, err := s.find(ctx, t, in.Project, in.Service)
	if err != nil {
		return nil, fmt.Errorf("find the releases of service %s of project %s: %w", in.Service, in.Project, err)
	}
	removed := &events.Removed{Releases: []string{}, RoutingObjects: []string{}, VariableGroups: []string{}}
	// One per namespace, by namespace.
	services := slices.DeleteFunc(deployed.Group(records), func(d *deployed.Service) bool {
		if s.settings.AllowNamespace == nil || s.settings.AllowNamespace(d.Namespace) == nil {
			return false
		}
		for _, r := range d.Records() {
			removed.NotAllowed = append(removed.NotAllowed, r.Namespace+"/"+r.Name)
		}
		return true
	})
	if services, err = s.owned(ctx, t, services, removed); err != nil {
		return nil, err
	}
	var errs []error
	for _, d := range services {
		ns := d.Namespace
		failed, uninstalled := len(errs), 0
		if err := t.holdReleases(ctx, releaseKeysIn(d.Records(), ns)); err != nil {
			return nil, err
		}
		// The variable group goes first: should it fail, the releases stay,
		// and the removal sent again finds the namespace by them.
		if err := s.deleteVariables(ctx, ns, in.Service, removed); err != nil {
			errs = append(errs, err)
			continue
		}
		for _, r := range d.Records() {
			t.Log.Info("uninstalling", "namespace", r.Namespace, "release", r.Name)
			err := s.releases.Uninstall(ctx, r.Namespace, r.Name, s.settings.WaitTimeout)
			switch {
			case errors.Is(err, helm.ErrNotFound): // removed meanwhile
			case err != nil:
				errs = append(errs, err)
			default:
				removed.Releases = append(removed.Releases, r.Namespace+"/"+r.Name)
				uninstalled++
			}
		}
		if uninstalled > 0 {
			t.recordChange(cdevents.Removed, ns, in.Service, nil)
		}
		objects, err := s.router.Remove(ctx, ns, in.Service)
		removed.RoutingObjects = append(removed.RoutingObjects, objects...)
		if err != nil {
			errs = append(errs, fmt.Errorf("remove routing of %s in %s: %w", in.Service, ns, err))
		}
		if s.settings.DeleteEmptyNamespaces && len(errs) == failed {
			deleted, kept, err := s.namespaces.DeleteIfEmpty(ctx, ns)
			switch {
			case err != nil:
				errs = append(errs, err)
			case deleted:
				removed.Namespaces = append(removed.Namespaces, ns)
			case kept != "":
				t.Log.Info("namespace kept", "namespace", ns, "reason", kept)
				removed.KeptNamespaces = append(removed.KeptNamespaces, events.KeptNamespace{Namespace: ns, Reason: kept})
			}
		}
	}

	if len(errs) > 0 {
		if nothingRemoved(removed) {
			return nil, fmt.Errorf("nothing of service %s of project %s was removed: %w", in.Service, in.Project, errors.Join(errs...))
		}
		return nil, fmt.Errorf("%s; failed: %w", describeRemoved(in.Project, in.Service, removed), errors.Join(errs...))
	}
	summary := describeRemoved(in.Project, in.Service, removed)
	out := &events.ServiceDeleteFinished{Removed: removed}
	out.Message = summary
	return out, nil
}

// deleteVariables deletes the service's variable group and snapshots in
// namespace and adds them to removed.
func (s *ServiceDelete) deleteVariables(ctx context.Context, namespace, service string, removed *events.Removed) error {
	if s.variables == nil {
		return nil
	}
	deleted, err := s.variables.DeleteService(ctx, namespace, service)
	removed.VariableGroups = append(removed.VariableGroups, deleted...)
	if err != nil {
		return fmt.Errorf("%w; the releases of %s in %s are left until it is gone: send the removal again", err, service, namespace)
	}
	return nil
}

// nothingRemoved says whether a removal removed nothing at all.
func nothingRemoved(r *events.Removed) bool {
	return len(r.Releases) == 0 && len(r.RoutingObjects) == 0 && len(r.VariableGroups) == 0 && len(r.Namespaces) == 0
}

// describeRemoved says in words what was removed for a service.
func describeRemoved(project, service string, r *events.Removed) string {
	if nothingRemoved(r) && len(r.NotAllowed) == 0 && len(r.NotOwned) == 0 {
		return fmt.Sprintf("service %s of project %s had nothing deployed by helm-service", service, project)
	}
	var parts []string
	if len(r.Releases) > 0 {
		parts = append(parts, "releases "+strings.Join(r.Releases, ", "))
	}
	if len(r.RoutingObjects) > 0 {
		parts = append(parts, "routing objects "+strings.Join(r.RoutingObjects, ", "))
	}
	if len(r.VariableGroups) > 0 {
		parts = append(parts, "variable groups "+strings.Join(r.VariableGroups, ", "))
	}
	if len(r.Namespaces) > 0 {
		parts = append(parts, "empty namespaces "+strings.Join(r.Namespaces, ", "))
	}
	if len(r.NotAllowed) > 0 {
		parts = append(parts, "left alone, in namespaces ALLOWED_NAMESPACES does not allow: "+strings.Join(r.NotAllowed, ", "))
	}
	if len(r.NotOwned) > 0 {
		parts = append(parts, "left alone, in namespaces helm-service did not create for their project and stage: "+strings.Join(r.NotOwned, ", "))
	}
	if len(r.KeptNamespaces) > 0 {
		kept := make([]string, 0, len(r.KeptNamespaces))
		for _, k := range r.KeptNamespaces {
			kept = append(kept, fmt.Sprintf("%s (%s)", k.Namespace, k.Reason))
		}
		parts = append(parts, "kept namespaces "+strings.Join(kept, ", "))
	}
	return fmt.Sprintf("removed service %s of project %s: %s", service, project, strings.Join(parts, "; "))
}

// find returns the releases of a service in every namespace. Without the
// right to list release records cluster-wide (the chart's namespaced RBAC
// mode), it searches the namespaces of the project's stages,
// <project>-*, one by one, skipping those it may not read.
func (s *ServiceDelete) find(ctx context.Context, t Trigger, project, service string) ([]*helm.Record, error) {
	labels := map[string]string{kube.LabelProject: project, kube.LabelService: service}
	records, err := s.releases.Find(ctx, helm.AllNamespaces, labels)
	if !apierrors.IsForbidden(err) {
		return records, err
	}
	t.Log.Info("may not list releases in every namespace: searching the project's namespaces one by one", "error", err)
	names, err := s.namespaces.List(ctx)
	if err != nil {
		return nil, err
	}
	records = nil
	for _, ns := range names {
		if !strings.HasPrefix(ns, project+"-") {
			continue
		}
		found, err := s.releases.Find(ctx, ns, labels)
		if apierrors.IsForbidden(err) {
			t.Log.Debug("may not list releases in namespace: skipped", "namespace", ns)
			continue
		}
		if err != nil {
			return nil, err
		}
		records = append(records, found...)
	}
	return records, nil
}
