package deployed

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
)

const ns = "sockshop-staging"

// record is a release record of namespace ns as helm.Client.Find returns
// it: labelled for service with the strategy (none when empty), with one
// Deployment of its name in ns.
func record(name, service, strategy string) *helm.Record {
	return recordIn(ns, name, service, strategy)
}

// recordIn is record in namespace.
func recordIn(ns, name, service, strategy string) *helm.Record {
	labels := map[string]string{kube.LabelProject: "sockshop", kube.LabelStage: "staging", kube.LabelService: service}
	if strategy != "" {
		labels[kube.LabelStrategy] = strategy
	}
	return &helm.Record{
		Result: helm.Result{
			Namespace: ns, Name: name, Revision: 1, Status: "deployed",
			Services:  []helm.Service{{Name: name, Namespace: ns, Port: 80}},
			Workloads: []kube.Workload{{Kind: "Deployment", Namespace: ns, Name: name}},
		},
		Labels: labels,
	}
}

// withLabel is a copy of r with one more label.
func withLabel(r *helm.Record, k, v string) *helm.Record {
	out := *r
	out.Labels = map[string]string{}
	for k, v := range r.Labels {
		out.Labels[k] = v
	}
	out.Labels[k] = v
	return &out
}

// withWorkload is a copy of r listing one more workload.
func withWorkload(r *helm.Record, w kube.Workload) *helm.Record {
	out := *r
	out.Workloads = append(append([]kube.Workload{}, r.Workloads...), w)
	return &out
}

// finder finds records by namespace and labels, as helm.Client.Find does.
type finder struct {
	records []*helm.Record
	err     error
}

func (f finder) Find(_ context.Context, namespace string, labels map[string]string) ([]*helm.Record, error) {
	var out []*helm.Record
next:
	for _, r := range f.records {
		if namespace != helm.AllNamespaces && r.Namespace != namespace {
			continue
		}
		for k, v := range labels {
			if r.Labels[k] != v {
				continue next
			}
		}
		out = append(out, r)
	}
	return out, f.err
}

func TestFind(t *testing.T) {
	direct := record("carts", "carts", "direct")
	user := record("carts", "carts", "user_managed")
	legacy := &helm.Record{Result: helm.Result{Namespace: ns, Name: "carts", Revision: 4}, Labels: map[string]string{kube.LabelService: "carts"}}
	primary := record("carts-primary", "carts", "blue_green_service")
	canary := record("carts-canary", "carts", "blue_green_service")
	byHand := record("carts-old", "carts", "")
	elsewhere := kube.Workload{Kind: "Deployment", Namespace: "kube-system", Name: "coredns"}
	otherService := record("orders", "orders", "direct")
	otherNamespace := recordIn("sockshop-prod", "carts", "carts", "direct")

	for _, tc := range []struct {
		name    string
		records []*helm.Record
		want    *Service
		live    *helm.Record
	}{
		{"direct", []*helm.Record{direct, otherService, otherNamespace},
			&Service{Namespace: ns, Name: "carts", Strategy: events.StrategyDirect, Direct: direct}, direct},
		{"user_managed", []*helm.Record{user},
			&Service{Namespace: ns, Name: "carts", Strategy: events.StrategyUserManaged, Direct: user}, user},
		{"from before strategies were recorded: direct", []*helm.Record{legacy},
			&Service{Namespace: ns, Name: "carts", Strategy: events.StrategyDirect, Direct: legacy}, legacy},
		{"blue/green", []*helm.Record{canary, primary},
			&Service{Namespace: ns, Name: "carts", Strategy: events.StrategyBlueGreen, Primary: primary, Canary: canary}, primary},
		{"blue/green without a canary", []*helm.Record{primary},
			&Service{Namespace: ns, Name: "carts", Strategy: events.StrategyBlueGreen, Primary: primary}, primary},
		{"the primary wins over a direct release", []*helm.Record{direct, primary},
			&Service{Namespace: ns, Name: "carts", Strategy: events.StrategyBlueGreen, Direct: direct, Primary: primary}, primary},
		{"a release by another name is one of the others", []*helm.Record{byHand, direct},
			&Service{Namespace: ns, Name: "carts", Strategy: events.StrategyDirect, Direct: direct, Others: []*helm.Record{byHand}}, direct},
		{"workloads outside the namespace are foreign", []*helm.Record{withWorkload(canary, elsewhere), primary},
			&Service{Namespace: ns, Name: "carts", Strategy: events.StrategyBlueGreen, Primary: primary, Canary: canary, Foreign: []kube.Workload{elsewhere}}, primary},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Find(context.Background(), finder{records: tc.records}, ns, "carts")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Find (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.live, got.Live()); diff != "" {
				t.Errorf("Live (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFindNeverDeployed: the message is the one answers carry (the e2e
// tests assert on it).
func TestFindNeverDeployed(t *testing.T) {
	for _, tc := range []struct {
		name    string
		records []*helm.Record
	}{
		{"no release", nil},
		{"a canary without a primary", []*helm.Record{record("carts-canary", "carts", "blue_green_service")}},
		{"only a release by another name", []*helm.Record{record("carts-old", "carts", "direct")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Find(context.Background(), finder{records: tc.records}, ns, "carts")
			if !errors.Is(err, ErrNeverDeployed) {
				t.Fatalf("error %v, want ErrNeverDeployed", err)
			}
			want := "service carts in namespace sockshop-staging was never deployed by helm-service: no Helm release carries keptn.sh/service=carts"
			if diff := cmp.Diff(want, err.Error()); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFindCannotRead(t *testing.T) {
	cause := errors.New("connection refused")
	_, err := Find(context.Background(), finder{err: cause}, ns, "carts")
	if !errors.Is(err, cause) || errors.Is(err, ErrNeverDeployed) {
		t.Fatalf("error %v, want one wrapping the cause", err)
	}
	if diff := cmp.Diff("find the releases of service carts in sockshop-staging: connection refused", err.Error()); diff != "" {
		t.Errorf("message (-want +got):\n%s", diff)
	}
}

// TestFindLeavesTheRecordsAlone: keeping only its own workloads copies a
// record, so that the caller's is unchanged.
func TestFindLeavesTheRecordsAlone(t *testing.T) {
	elsewhere := kube.Workload{Kind: "StatefulSet", Namespace: "other", Name: "db"}
	rec := withWorkload(record("carts", "carts", "direct"), elsewhere)
	got, err := Find(context.Background(), finder{records: []*helm.Record{rec}}, ns, "carts")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]kube.Workload{{Kind: "Deployment", Namespace: ns, Name: "carts"}}, got.Direct.Workloads); diff != "" {
		t.Errorf("the model's workloads (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]kube.Workload{{Kind: "Deployment", Namespace: ns, Name: "carts"}, elsewhere}, rec.Workloads); diff != "" {
		t.Errorf("the caller's record changed (-want +got):\n%s", diff)
	}
}

func TestGroup(t *testing.T) {
	carts := record("carts", "carts", "direct")
	prodPrimary := recordIn("sockshop-prod", "carts-primary", "carts", "blue_green_service")
	orders := record("orders", "orders", "user_managed")
	unlabelled := &helm.Record{Result: helm.Result{Namespace: ns, Name: "nginx"}}

	got := Group([]*helm.Record{prodPrimary, orders, unlabelled, carts})
	want := []*Service{
		{Namespace: "sockshop-prod", Name: "carts", Strategy: events.StrategyBlueGreen, Primary: prodPrimary},
		{Namespace: ns, Name: "carts", Strategy: events.StrategyDirect, Direct: carts},
		{Namespace: ns, Name: "orders", Strategy: events.StrategyUserManaged, Direct: orders},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Group (-want +got):\n%s", diff)
	}
}

// TestRecordsAndTheirParts: what status lists of a service and what
// removal uninstalls.
func TestRecordsAndTheirParts(t *testing.T) {
	type part struct{ Release, Deployment string }
	for _, tc := range []struct {
		name    string
		records []*helm.Record
		want    []part
		project string
	}{
		{"direct", []*helm.Record{record("carts", "carts", "direct")}, []part{{"carts", "direct"}}, "sockshop"},
		{"user_managed", []*helm.Record{record("carts", "carts", "user_managed")}, []part{{"carts", "user_managed"}}, "sockshop"},
		{"blue/green", []*helm.Record{record("carts-primary", "carts", "blue_green_service"), record("carts-canary", "carts", "blue_green_service")},
			[]part{{"carts-canary", "canary"}, {"carts-primary", "primary"}}, "sockshop"},
		{"others, by their label", []*helm.Record{
			withLabel(record("carts-old", "carts", ""), kube.LabelDeployment, "user_managed"), record("carts-older", "carts", ""), record("carts", "carts", "direct"),
		}, []part{{"carts", "direct"}, {"carts-old", "user_managed"}, {"carts-older", "direct"}}, "sockshop"},
		{"only others", []*helm.Record{withLabel(record("carts-old", "carts", ""), kube.LabelProject, "shop")}, []part{{"carts-old", "direct"}}, "shop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(ns, "carts", tc.records)
			var got []part
			for _, r := range s.Records() {
				got = append(got, part{r.Name, s.Deployment(r)})
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
			var names []string
			for _, p := range tc.want {
				names = append(names, p.Release)
			}
			if diff := cmp.Diff(names, s.ReleaseNames()); diff != "" {
				t.Errorf("ReleaseNames (-want +got):\n%s", diff)
			}
			if got := []string{s.Project(), s.Stage()}; !cmp.Equal(got, []string{tc.project, "staging"}) {
				t.Errorf("project and stage %q, want %q and staging", got, tc.project)
			}
		})
	}
}
