package e2e

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart/loader"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/helm-service/helm-service/pkg/charts"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/helm/reconcile"
	"github.com/helm-service/helm-service/pkg/kube"
)

// TestChartInstalls installs the chart that installs helm-service itself and
// waits for its pod to be ready. The local cluster fakes the kubelet and runs
// no containers, so this proves that the manifests are valid and accepted by
// a real API server (RBAC objects included), not that the image starts.
func TestChartInstalls(t *testing.T) {
	restConfig, err := clientcmd.BuildConfigFromFlags("", suite.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := loader.Load("../../chart")
	if err != nil {
		t.Fatal(err)
	}
	ns := suite.project("helm-service-system")
	if err := (kube.Namespaces{Clientset: suite.clientset}).Ensure(ctx(t), ns, nil); err != nil {
		t.Fatal(err)
	}
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	// The operator installing helm-service opens the cluster-scoped kinds
	// of its chart (ALLOWED_CLUSTER_KINDS of helm-service's own settings).
	helmClient := helm.NewClient(restConfig, suite.clientset, discard)
	kinds, err := helm.ParseClusterKinds([]string{"ClusterRole.rbac.authorization.k8s.io", "ClusterRoleBinding.rbac.authorization.k8s.io"})
	if err != nil {
		t.Fatal(err)
	}
	helmClient.SetAllowedClusterKinds(kinds)
	client := reconcile.New(helmClient, reconcile.DefaultPendingAge, discard)
	name := "helm-service-" + suite.runID
	res, err := client.Upgrade(ctx(t), helm.Request{
		Namespace: ns, Name: name, Chart: ch, Timeout: 2 * time.Minute,
		Values: charts.MergeValues(ch.Values, map[string]any{"image": map[string]any{"tag": "e2e"}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != "deployed" {
		t.Errorf("release status %s", res.Status)
	}
	dep, err := suite.clientset.AppsV1().Deployments(ns).Get(ctx(t), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if dep.Status.ReadyReplicas != 1 {
		t.Errorf("ready replicas = %d, want 1", dep.Status.ReadyReplicas)
	}
	for _, role := range []string{name, name + "-deployer"} {
		if _, err := suite.clientset.RbacV1().ClusterRoles().Get(ctx(t), role, metav1.GetOptions{}); err != nil {
			t.Errorf("ClusterRole %s: %v", role, err)
		}
	}
}
