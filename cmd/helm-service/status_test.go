package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
	"github.com/helm-service/helm-service/pkg/routing"
)

// records finds release records by namespace and labels, as
// helm.Client.Find does.
type records []*helm.Record

func (rs records) Find(_ context.Context, namespace string, labels map[string]string) ([]*helm.Record, error) {
	var out []*helm.Record
next:
	for _, r := range rs {
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
	return out, nil
}

// statusRecord is a release record of service carts as helm-service
// writes it, with one Deployment and one Service of the release's name.
func statusRecord(project, namespace, name, strategy, deployment string, revision int, updated time.Time) *helm.Record {
	labels := map[string]string{kube.LabelProject: project, kube.LabelStage: strings.TrimPrefix(namespace, project+"-"), kube.LabelService: "carts"}
	if strategy != "" {
		labels[kube.LabelStrategy], labels[kube.LabelDeployment] = strategy, deployment
	}
	return &helm.Record{
		Result: helm.Result{
			Namespace: namespace, Name: name, Revision: revision, Status: "deployed",
			Services:  []helm.Service{{Name: name, Namespace: namespace, Port: 80}},
			Workloads: []kube.Workload{{Kind: "Deployment", Namespace: namespace, Name: name}},
			ChartName: "carts", ChartVersion: "0.1.0", Updated: updated,
		},
		Labels: labels,
	}
}

// workload is a Deployment running image and the Service that selects it.
func workload(namespace, name, image string) []runtime.Object {
	selector := map[string]string{"app.kubernetes.io/instance": name}
	return []runtime.Object{
		&appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
			Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "app", Image: image}, {Name: "sidecar", Image: image}},
			}}},
		},
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
			Spec:       corev1.ServiceSpec{Selector: selector, Ports: []corev1.ServicePort{{Port: 80}}},
		},
	}
}

// TestStatusComesFromTheModel: status reports a direct and a blue/green
// service as package deployed reads them: strategy and parts from the
// records' names and labels, images of the workloads in the release's
// namespace from the cluster, and the split of the blue/green service's
// stable endpoint, named after its primary.
func TestStatusComesFromTheModel(t *testing.T) {
	ctx := context.Background()
	updated := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var objects []runtime.Object
	for _, w := range [][3]string{
		{"sockshop-direct", "carts", "example/carts:d2"},
		{"sockshop-bg", "carts-primary", "example/carts:bg1"},
		{"sockshop-bg", "carts-canary", "example/carts:bg2"},
		{"kube-system", "coredns", "coredns:1"},
	} {
		objects = append(objects, workload(w[0], w[1], w[2])...)
	}
	cs := fake.NewClientset(objects...)
	router := routing.ServiceRouter{Clientset: cs}
	stable := routing.Target{Namespace: "sockshop-bg", Service: "carts", Backends: []routing.Backend{{Stable: "carts", Primary: "carts-primary", Canary: "carts-canary", Port: 80}}}
	if err := router.Route(ctx, stable, routing.AllCanary); err != nil {
		t.Fatal(err)
	}

	direct := statusRecord("sockshop", "sockshop-direct", "carts", "direct", "direct", 2, updated)
	primary := statusRecord("sockshop", "sockshop-bg", "carts-primary", "blue_green_service", "primary", 1, updated)
	canary := statusRecord("sockshop", "sockshop-bg", "carts-canary", "blue_green_service", "canary", 2, updated.Add(time.Minute))
	// A workload the record lists outside its namespace is not the
	// release's: status does not read it.
	canary.Workloads = append(canary.Workloads, kube.Workload{Kind: "Deployment", Namespace: "kube-system", Name: "coredns"})
	legacy := statusRecord("sockshop", "sockshop-old", "carts", "", "", 7, updated) // from before strategies were recorded
	legacy.Workloads = nil
	notOurs := &helm.Record{Result: helm.Result{Namespace: "sockshop-direct", Name: "nginx"}, Labels: map[string]string{kube.LabelProject: "sockshop"}}
	otherProject := statusRecord("shop", "shop-direct", "carts", "direct", "direct", 1, updated)

	got, err := readStatus(ctx, records{canary, otherProject, direct, legacy, notOurs, primary}, cs,
		[]namedRouter{{"service", router}}, map[string]string{kube.LabelProject: "sockshop"})
	if err != nil {
		t.Fatal(err)
	}
	want := []serviceStatus{
		{Project: "sockshop", Stage: "bg", Service: "carts", Namespace: "sockshop-bg", Strategy: "blue_green_service",
			Releases: []releaseStatus{
				{Name: "carts-canary", Deployment: "canary", Revision: 2, Status: "deployed", Chart: "carts", ChartVersion: "0.1.0", Images: []string{"example/carts:bg2"}, Updated: updated.Add(time.Minute)},
				{Name: "carts-primary", Deployment: "primary", Revision: 1, Status: "deployed", Chart: "carts", ChartVersion: "0.1.0", Images: []string{"example/carts:bg1"}, Updated: updated},
			},
			Traffic: &trafficStatus{Router: "service", Primary: 0, Canary: 100}},
		{Project: "sockshop", Stage: "direct", Service: "carts", Namespace: "sockshop-direct", Strategy: "direct",
			Releases: []releaseStatus{
				{Name: "carts", Deployment: "direct", Revision: 2, Status: "deployed", Chart: "carts", ChartVersion: "0.1.0", Images: []string{"example/carts:d2"}, Updated: updated},
			}},
		{Project: "sockshop", Stage: "old", Service: "carts", Namespace: "sockshop-old", Strategy: "direct",
			Releases: []releaseStatus{
				{Name: "carts", Deployment: "direct", Revision: 7, Status: "deployed", Chart: "carts", ChartVersion: "0.1.0", Images: []string{}, Updated: updated},
			}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}

	var table bytes.Buffer
	if err := printStatusTable(&table, got); err != nil {
		t.Fatal(err)
	}
	var cells [][]string
	for _, line := range strings.Split(strings.TrimSpace(table.String()), "\n")[1:] {
		f := strings.Fields(line)
		cells = append(cells, append(f[:4:4], f[6], strings.Join(f[8:len(f)-1], " ")))
	}
	wantCells := [][]string{
		{"sockshop-bg", "carts", "blue_green_service", "carts-canary", "example/carts:bg2", "100% (service)"},
		{"sockshop-bg", "carts", "blue_green_service", "carts-primary", "example/carts:bg1", "0% (service)"},
		{"sockshop-direct", "carts", "direct", "carts", "example/carts:d2", "-"},
		{"sockshop-old", "carts", "direct", "carts", "-", "-"},
	}
	if diff := cmp.Diff(wantCells, cells); diff != "" {
		t.Errorf("table: namespace, service, strategy, release, image, traffic (-want +got):\n%s\n%s", diff, table.String())
	}
}

// TestStatusTrafficUnreadable: a blue/green service whose split no router
// reads says why instead of a split.
func TestStatusTrafficUnreadable(t *testing.T) {
	cs := fake.NewClientset(workload("sockshop-bg", "carts-primary", "example/carts:bg1")...)
	primary := statusRecord("sockshop", "sockshop-bg", "carts-primary", "blue_green_service", "primary", 1, time.Time{})
	got, err := readStatus(context.Background(), records{primary}, cs, []namedRouter{{"service", routing.ServiceRouter{Clientset: cs}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Traffic != nil || got[0].TrafficError != "service: stable Service sockshop-bg/carts: no stable endpoint" {
		t.Errorf("status = %+v, want no traffic and the router's reason", got)
	}
}
