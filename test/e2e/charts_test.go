package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/helm-service/helm-service/pkg/charts/chartstest"
)

func testdataChart(t *testing.T, name string) *chart.Chart {
	t.Helper()
	c, err := loader.Load(filepath.Join("../testdata/charts", name))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// expectObjects checks that the Deployments and Services named exist in
// namespace, and that those named in absent do not.
func expectObjects(t *testing.T, namespace string, present, absent []string) {
	t.Helper()
	for _, name := range present {
		if _, err := suite.clientset.AppsV1().Deployments(namespace).Get(ctx(t), name, metav1.GetOptions{}); err != nil {
			t.Errorf("deployment %s/%s: %v", namespace, name, err)
		}
		if _, err := suite.clientset.CoreV1().Services(namespace).Get(ctx(t), name, metav1.GetOptions{}); err != nil {
			t.Errorf("service %s/%s: %v", namespace, name, err)
		}
	}
	for _, name := range absent {
		if _, err := suite.clientset.AppsV1().Deployments(namespace).Get(ctx(t), name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("deployment %s/%s: %v, want none", namespace, name, err)
		}
		if _, err := suite.clientset.CoreV1().Services(namespace).Get(ctx(t), name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("service %s/%s: %v, want none", namespace, name, err)
		}
	}
}

// expectNoRelease checks that namespace holds no Helm release record of
// name.
func expectNoRelease(t *testing.T, namespace, name string) {
	t.Helper()
	secrets, err := suite.clientset.CoreV1().Secrets(namespace).List(ctx(t), metav1.ListOptions{LabelSelector: "owner=helm,name=" + name})
	if err != nil {
		t.Fatal(err)
	}
	if len(secrets.Items) != 0 {
		t.Errorf("%d Helm release records of %s in %s, want none", len(secrets.Items), name, namespace)
	}
}

// TestChartDependencies deploys the storefront chart, whose cache subchart
// is vendored under the alias sessions and whose search subchart its
// condition disables, directly and blue/green, and the basket chart, which
// declares a dependency missing from its charts/ directory.
func TestChartDependencies(t *testing.T) {
	project := suite.project("deps")
	copyChart(t, project, "storefront", "storefront")
	copyChart(t, project, "basket", "basket")

	ns := project + "-dev"
	_, data := suite.finished(t, suite.trigger(t, suite.nats, deploymentTrigger(project, "dev", "storefront", "direct", nil)), deployTimeout)
	expectSucceeded(t, data)
	expectObjects(t, ns, []string{"storefront", "storefront-sessions"}, []string{"storefront-search", "storefront-cache"})
	if img := image(t, ns, "storefront-sessions"); img != "example/cache:2" {
		t.Errorf("aliased subchart runs %s, want example/cache:2 (the parent's values under the alias)", img)
	}
	expectLocalURI(t, data, "http://storefront."+ns+":80")

	ns = project + "-prod"
	_, data = suite.finished(t, suite.trigger(t, suite.nats, deploymentTrigger(project, "prod", "storefront", "blue_green_service", nil)), deployTimeout)
	expectSucceeded(t, data)
	expectObjects(t, ns,
		[]string{"storefront-primary", "storefront-primary-sessions", "storefront-canary", "storefront-canary-sessions"},
		[]string{"storefront-primary-search", "storefront-canary-search"})
	expectLocalURI(t, data, "http://storefront."+ns+":80")

	ns = project + "-dev"
	_, data = suite.finished(t, suite.trigger(t, suite.nats, deploymentTrigger(project, "dev", "basket", "direct", nil)), deployTimeout)
	expectErrored(t, data, "basket", "missing in charts/ directory: queue", "helm dependency build", "helm dependency update")
	expectNoRelease(t, ns, "basket")
	expectObjects(t, ns, nil, []string{"basket", "basket-cache"})
}

// TestChartDependenciesFromEverySource deploys storefront and basket from a
// git repository, from an OCI registry, and named in the trigger: every
// source deploys the vendored subcharts and refuses the missing one.
func TestChartDependenciesFromEverySource(t *testing.T) {
	storefront, basket := testdataChart(t, "storefront"), testdataChart(t, "basket")
	reg := chartstest.StartRegistry(t, chartstest.RegistryOptions{})
	srv := chartstest.StartGitServer(t)
	project := suite.project("depsrc")
	reg.Push(t, project+"/storefront", storefront)
	reg.Push(t, project+"/basket", basket)
	reg.Push(t, "shared/basket", basket)
	srv.Commit(t, project, "git", chartstest.ChartFiles(t, "storefront", storefront, false))
	srv.Commit(t, project, "git", chartstest.ChartFiles(t, "basket", basket, true))
	registry := map[string]string{"CHART_REGISTRY": reg.Host, "CHART_REGISTRY_PLAIN_HTTP": "true", "CHART_REF_ALLOWED": reg.Host + "/shared/*"}

	gitVars := map[string]string{"CHART_SOURCE": "git", "CHART_GIT_URL": srv.URL + "/{{.Project}}.git", "CHART_GIT_CACHE_DIR": t.TempDir()}
	for k, v := range registry {
		gitVars[k] = v
	}
	fromGit := startInstance(t, gitVars)
	ns := project + "-git"
	expectSucceeded(t, fromGit.deployChart(t, project, "git", "storefront", nil, ""))
	expectObjects(t, ns, []string{"storefront", "storefront-sessions"}, []string{"storefront-search"})
	expectErrored(t, fromGit.deployChart(t, project, "git", "basket", nil, ""), "missing in charts/ directory: queue", "helm dependency build")
	expectErrored(t, fromGit.deployChart(t, project, "git", "cart", map[string]any{"ref": "oci://" + reg.Host + "/shared/basket", "version": basket.Metadata.Version}, ""),
		"missing in charts/ directory: queue", "helm dependency build")
	expectNoRelease(t, ns, "basket")
	expectNoRelease(t, ns, "cart")

	ociVars := map[string]string{"CHART_SOURCE": "oci"}
	for k, v := range registry {
		ociVars[k] = v
	}
	fromOCI := startInstance(t, ociVars)
	ns = project + "-oci"
	expectSucceeded(t, fromOCI.deployChart(t, project, "oci", "storefront", nil, ""))
	expectObjects(t, ns, []string{"storefront", "storefront-sessions"}, []string{"storefront-search"})
	expectErrored(t, fromOCI.deployChart(t, project, "oci", "basket", nil, ""), "missing in charts/ directory: queue", "helm dependency build")
	expectNoRelease(t, ns, "basket")
}

// TestDirChartLinkingOutOfItselfIsRefused: a chart in CHART_DIR whose file
// is a link to a file of helm-service's machine (its environment, a
// service-account token) is refused, naming the link, and nothing is
// deployed.
func TestDirChartLinkingOutOfItselfIsRefused(t *testing.T) {
	project := suite.project("links")
	copyChart(t, project, "carts", "carts")
	files := filepath.Join(suite.chartDir, project, "carts", "files")
	if err := os.MkdirAll(files, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/proc/self/environ", filepath.Join(files, "env")); err != nil {
		t.Fatal(err)
	}
	_, data := suite.finished(t, suite.trigger(t, suite.nats, deploymentTrigger(project, "dev", "carts", "direct", nil)), deployTimeout)
	expectErrored(t, data, "symbolic link files/env points outside the chart", "/proc/self/environ")
	expectNoRelease(t, project+"-dev", "carts")
}
