package e2e

import (
	"testing"
)

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
	if got := d.DeploymentURIsLocal; len(got) != 1 || got[0] != "http://carts."+ns+":80" {
		t.Errorf("deploymentURIsLocal = %v, want [http://carts.%s:80]", got, ns)
	}
}
