package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/helm-service/helm-service/pkg/charts"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/kube"
)

// restrictedKubeconfig installs the service's own chart with namespaced
// RBAC for the given namespaces and returns a kubeconfig that acts as its
// service account, and the settings naming the deployer account and role
// the chart made there.
func restrictedKubeconfig(t *testing.T, namespaces []string) (string, map[string]string) {
	t.Helper()
	list := make([]any, len(namespaces))
	for i, n := range namespaces {
		list[i] = n
	}
	name, sa, deployer := "hs-rbac-"+suite.runID, "helm-service-restricted", "hs-rbac-deployer"
	path := chartKubeconfig(t, name, sa, map[string]any{
		"rbac":     map[string]any{"mode": "namespaced", "namespaces": list},
		"deployer": map[string]any{"serviceAccount": deployer},
	})
	return path, map[string]string{"KUBECONFIG": path, "DEPLOYER_SERVICE_ACCOUNT": deployer, "DEPLOYER_ROLE": name + "-deployer"}
}

// chartKubeconfig installs the service's own chart as release name, its
// service account sa, with the given values, and returns a kubeconfig that
// acts as that service account.
func chartKubeconfig(t *testing.T, name, sa string, values map[string]any) string {
	t.Helper()
	system := suite.project("hs-rbac")
	if err := (kube.Namespaces{Clientset: suite.clientset}).Ensure(ctx(t), system, nil); err != nil {
		t.Fatal(err)
	}
	// Installed as an operator installs it, with the helm CLI: the chart
	// holds ClusterRoles and objects in other namespaces, which
	// helm-service itself would refuse to deploy.
	installWithHelm(t, system, name, "../../chart", charts.MergeValues(map[string]any{
		"image":          map[string]any{"tag": "e2e"},
		"serviceAccount": map[string]any{"name": sa},
	}, values), nil)
	t.Cleanup(func() { _ = uninstallWithHelm(t, system, name) })

	expiry := int64(3600)
	tok, err := suite.clientset.CoreV1().ServiceAccounts(system).CreateToken(ctx(t), sa,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.LoadFromFile(suite.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.AuthInfos = map[string]*clientcmdapi.AuthInfo{sa: {Token: tok.Status.Token}}
	for _, c := range cfg.Contexts {
		c.AuthInfo = sa
	}
	path := filepath.Join(t.TempDir(), "restricted.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestDeleteServiceWithNamespacedRBAC removes a service with the rights of
// the chart's namespaced RBAC mode, which may not list releases in every
// namespace: helm-service searches the project's namespaces one by one and
// skips one it may not read.
func TestDeleteServiceWithNamespacedRBAC(t *testing.T) {
	project := suite.project("delrb")
	dev, prod, locked := project+"-dev", project+"-prod", project+"-locked"
	// Prepared by hand for helm-service, as its own: labelled for the
	// project and stage.
	for stage, ns := range map[string]string{"dev": dev, "prod": prod, "locked": locked} {
		if err := (kube.Namespaces{Clientset: suite.clientset}).Ensure(ctx(t), ns, kube.Owner{Project: project, Stage: stage}.Labels()); err != nil {
			t.Fatal(err)
		}
	}
	// Deployed with full rights by the suite's instance.
	for _, stage := range []string{"dev", "prod", "locked"} {
		_, data := suite.finished(t, suite.trigger(t, suite.nats, deploymentTrigger(project, stage, "carts", "direct", nil)), deployTimeout)
		expectSucceeded(t, data)
	}

	_, restricted := restrictedKubeconfig(t, []string{dev, prod})
	inst := startInstance(t, restricted)
	_, out := inst.serviceDeleted(t, project, "carts")
	if out.Status != events.StatusSucceeded || out.Removed == nil || !slices.Equal(out.Removed.Releases, []string{dev + "/carts", prod + "/carts"}) {
		t.Fatalf("finished %s %q, removed %+v; want the releases in %s and %s", out.Status, out.Message, out.Removed, dev, prod)
	}
	log, err := os.ReadFile(inst.service.logPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "may not list releases in every namespace") {
		t.Errorf("the restricted instance did not fall back to searching namespaces one by one")
	}
	if r := helmRelease(t, locked, "carts"); r.status != "deployed" {
		t.Errorf("release in the namespace the instance may not read: %s, want deployed (untouched)", r.status)
	}
}
