package deployed

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
)

// ErrNeverDeployed is wrapped by Find for a service without a release that
// serves it.
var ErrNeverDeployed = errors.New("was never deployed by helm-service")

// Finder reads release records (helm.Client is one).
type Finder interface {
	// Find returns the newest revision of the releases in namespace whose
	// records carry labels.
	Find(ctx context.Context, namespace string, labels map[string]string) ([]*helm.Record, error)
}

// Service is how a Keptn service is deployed in one namespace now, as the
// records of its Helm releases say.
type Service struct {
	Namespace string
	// Name is the Keptn service.
	Name string
	// Strategy is told from the records: blue/green with a primary or a
	// canary (the primary wins over a direct record), else direct, or
	// user_managed as the direct record's label says. Records from before
	// strategies were recorded count as direct. It is empty when only
	// Others are found.
	Strategy events.Strategy
	// Direct is the release of a direct or user_managed service.
	Direct *helm.Record
	// Primary and Canary are the releases of a blue/green service; either
	// may be nil.
	Primary *helm.Record
	Canary  *helm.Record
	// Others carry the service's label under a name no strategy gives a
	// release of the service (made by hand): removal uninstalls them and
	// status lists them; release, rollback and scaling leave them alone.
	Others []*helm.Record
	// Foreign are the workloads the records list outside Namespace: left
	// out of the records' Workloads, never changed.
	Foreign []kube.Workload
}

// New sorts the release records of service in namespace into a Service.
// Each record keeps only its workloads in namespace (see OwnWorkloads).
func New(namespace, service string, records []*helm.Record) *Service {
	s := &Service{Namespace: namespace, Name: service}
	for _, r := range records {
		r, foreign := OwnWorkloads(r, namespace)
		switch r.Name {
		case PrimaryName(service):
			s.Primary = r
		case CanaryName(service):
			s.Canary = r
		case service:
			s.Direct = r
		default:
			s.Others = append(s.Others, r)
			continue
		}
		s.Foreign = append(s.Foreign, foreign...)
	}
	slices.SortFunc(s.Others, byName)
	switch {
	case s.Primary != nil:
		s.Strategy = events.StrategyBlueGreen
	case s.Direct != nil:
		s.Strategy = events.StrategyDirect
		if s.Direct.Labels[kube.LabelStrategy] == string(events.StrategyUserManaged) {
			s.Strategy = events.StrategyUserManaged
		}
	case s.Canary != nil:
		s.Strategy = events.StrategyBlueGreen
	}
	return s
}

// Find reads the releases of service in namespace. A service whose
// releases do not serve it (none, or a canary without a primary) is an
// error wrapping ErrNeverDeployed.
func Find(ctx context.Context, f Finder, namespace, service string) (*Service, error) {
	records, err := f.Find(ctx, namespace, map[string]string{kube.LabelService: service})
	if err != nil {
		return nil, fmt.Errorf("find the releases of service %s in %s: %w", service, namespace, err)
	}
	s := New(namespace, service, records)
	if s.Live() == nil {
		return nil, fmt.Errorf("service %s in namespace %s %w: no Helm release carries %s=%s", service, namespace, ErrNeverDeployed, kube.LabelService, service)
	}
	return s, nil
}

// Group sorts release records of any namespaces into the services their
// kube.LabelService names, by namespace and then service. Records without
// the label were not deployed by helm-service and are left out.
func Group(records []*helm.Record) []*Service {
	type key struct{ namespace, service string }
	byKey := map[key][]*helm.Record{}
	for _, r := range records {
		service := r.Labels[kube.LabelService]
		if service == "" {
			continue
		}
		k := key{r.Namespace, service}
		byKey[k] = append(byKey[k], r)
	}
	out := make([]*Service, 0, len(byKey))
	for k, rs := range byKey {
		out = append(out, New(k.namespace, k.service, rs))
	}
	slices.SortFunc(out, func(a, b *Service) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	return out
}

// Live is the record that serves production: the primary of a blue/green
// service, else the direct record. It is nil for a service that has
// neither.
func (s *Service) Live() *helm.Record {
	if s.Strategy == events.StrategyBlueGreen {
		return s.Primary
	}
	return s.Direct
}

// Records are every record of the service, Others included, by name.
func (s *Service) Records() []*helm.Record {
	var out []*helm.Record
	for _, r := range []*helm.Record{s.Direct, s.Primary, s.Canary} {
		if r != nil {
			out = append(out, r)
		}
	}
	out = append(out, s.Others...)
	slices.SortFunc(out, byName)
	return out
}

// ReleaseNames names the service's releases, as Records sorts them.
func (s *Service) ReleaseNames() []string {
	var out []string
	for _, r := range s.Records() {
		out = append(out, r.Name)
	}
	return out
}

// Deployment is the part of the service a record of it is, as
// kube.LabelDeployment names it: primary or canary, the strategy of the
// direct record, and for the others what their label says (direct
// without one).
func (s *Service) Deployment(r *helm.Record) string {
	switch r {
	case nil:
		return ""
	case s.Primary:
		return string(Primary)
	case s.Canary:
		return string(Canary)
	case s.Direct:
		return string(s.Strategy)
	}
	return cmp.Or(r.Labels[kube.LabelDeployment], string(events.StrategyDirect))
}

// Project and Stage are the Keptn project and stage the records name: the
// live record's, else the first record's.
func (s *Service) Project() string { return s.label(kube.LabelProject) }

// Stage: see Project.
func (s *Service) Stage() string { return s.label(kube.LabelStage) }

func (s *Service) label(key string) string {
	if r := s.Live(); r != nil {
		return r.Labels[key]
	}
	if rs := s.Records(); len(rs) > 0 {
		return rs[0].Labels[key]
	}
	return ""
}

// OwnWorkloads returns rec with only the workloads in namespace, the
// release's own, and the others. A release record is someone else's input:
// a manifest listing a workload in another namespace must not lead
// helm-service to change it there.
func OwnWorkloads(rec *helm.Record, namespace string) (*helm.Record, []kube.Workload) {
	var own, foreign []kube.Workload
	for _, w := range rec.Workloads {
		if w.Namespace == namespace {
			own = append(own, w)
		} else {
			foreign = append(foreign, w)
		}
	}
	if len(foreign) == 0 {
		return rec, nil
	}
	out := *rec
	out.Workloads = own
	return &out, foreign
}

func byName(a, b *helm.Record) int { return strings.Compare(a.Name, b.Name) }
