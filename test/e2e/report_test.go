package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/helm-service/helm-service/pkg/events"
)

// copyChart puts the test chart test/testdata/charts/<name> where the
// suite's helm-service finds it for service in project.
func copyChart(t *testing.T, project, service, name string) {
	t.Helper()
	if err := os.CopyFS(filepath.Join(suite.chartDir, project, service), os.DirFS(filepath.Join("../testdata/charts", name))); err != nil {
		t.Fatal(err)
	}
}

func expectLocalURI(t *testing.T, data events.DeploymentFinished, want string) {
	t.Helper()
	if got := data.Deployment.DeploymentURIsLocal; len(got) != 1 || got[0] != want {
		t.Errorf("deploymentURIsLocal = %v, want [%s]", got, want)
	}
}

// TestLocalURINamesTheWorkloadsService deploys the orders chart, whose
// database Service comes first in manifest order, directly and blue/green:
// deploymentURIsLocal names the Service that selects the orders
// Deployment.
func TestLocalURINamesTheWorkloadsService(t *testing.T) {
	project := suite.project("uri")
	copyChart(t, project, "orders", "orders")

	ns := project + "-dev"
	_, data := suite.finished(t, suite.trigger(t, suite.nats, deploymentTrigger(project, "dev", "orders", "direct", nil)), deployTimeout)
	expectSucceeded(t, data)
	expectLocalURI(t, data, "http://orders."+ns+":80")

	ns = project + "-prod"
	_, data = suite.finished(t, suite.trigger(t, suite.nats, deploymentTrigger(project, "prod", "orders", "blue_green_service", nil)), deployTimeout)
	expectSucceeded(t, data)
	expectLocalURI(t, data, "http://orders."+ns+":80")
}

// TestPublicURIUsesTheNamespaceTemplate deploys with a NAMESPACE_TEMPLATE
// and the default PUBLIC_URI_TEMPLATE: the public URI names the namespace
// the service was deployed to.
func TestPublicURIUsesTheNamespaceTemplate(t *testing.T) {
	inst := startInstance(t, map[string]string{"NAMESPACE_TEMPLATE": "{{.Stage}}-{{.Project}}"})
	project, stage := suite.project("pubns"), "qa"
	ns := stage + "-" + project
	_, data := inst.finished(t, inst.trigger(t, inst.nats, deploymentTrigger(project, stage, "carts", "direct", map[string]any{"image": "example/carts:1"})), deployTimeout)
	expectSucceeded(t, data)
	d := data.Deployment
	if d.Namespace != ns {
		t.Fatalf("deployed to namespace %s, want %s", d.Namespace, ns)
	}
	if len(d.DeploymentURIsPublic) != 1 || d.DeploymentURIsPublic[0] != "http://carts."+ns+".svc.cluster.local:80" {
		t.Errorf("deploymentURIsPublic = %v, want [http://carts.%s.svc.cluster.local:80]", d.DeploymentURIsPublic, ns)
	}
	expectLocalURI(t, data, "http://carts."+ns+":80")
}
