package e2e

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestBranchNamespace deploys a branch environment with
// NAMESPACE_TEMPLATE={{.Project}}-{{.Labels.branch}}: the branch label is
// made a valid namespace name, and a release and a rollback of the service
// find it there.
func TestBranchNamespace(t *testing.T) {
	other := startInstance(t, map[string]string{"NAMESPACE_TEMPLATE": "{{.Project}}-{{.Labels.branch}}"})
	project := suite.project("branches")
	ns := project + "-feature-login-42"
	data := deploymentTrigger(project, "dev", "carts", "direct", map[string]any{"image": "example/carts:1", "replicaCount": 1})
	data["labels"] = map[string]string{"branch": "Feature/LOGIN_42"}
	_, fin := other.finished(t, suite.trigger(t, other.nats, data), deployTimeout)
	expectSucceeded(t, fin)
	if fin.Deployment == nil || fin.Deployment.Namespace != ns {
		t.Fatalf("deployed into %+v, want namespace %s", fin.Deployment, ns)
	}
	if d := getDeployment(t, ns, "carts"); d.Status.ReadyReplicas != 1 {
		t.Errorf("%s/carts has %d ready replicas, want 1", ns, d.Status.ReadyReplicas)
	}
	if _, err := suite.clientset.CoreV1().Namespaces().Get(ctx(t), project+"-dev", metav1.GetOptions{}); err == nil {
		t.Errorf("namespace %s-dev exists: the stage namespace was used as well", project)
	}

	release := lifecycleTrigger(project, "dev", "carts", "pass")
	release["labels"] = data["labels"]
	rel, _ := other.runTask(t, "release", release)
	if rel.Release == nil || rel.Release.Namespace != ns {
		t.Errorf("release outcome = %+v, want namespace %s", rel.Release, ns)
	}

	// Without the label the template needs, the trigger is refused by name.
	data["labels"] = map[string]string{"owner": "ops"}
	_, fin = other.finished(t, suite.trigger(t, other.nats, data), deployTimeout)
	expectErrored(t, fin, "namespace", `"branch"`)
}

// TestRolloutParameters: a trigger's deployment.rollout is written into the
// live Deployment and reported; a bad value is refused by field name.
func TestRolloutParameters(t *testing.T) {
	project := suite.project("rollout")
	ns := project + "-dev"
	data := deploymentTrigger(project, "dev", "carts", "direct", map[string]any{"image": "example/carts:1", "replicaCount": 1})
	data["deployment"].(map[string]any)["rollout"] = map[string]any{"strategy": "RollingUpdate", "maxSurge": "50%", "maxUnavailable": 0}
	_, fin := suite.finished(t, suite.trigger(t, suite.nats, data), deployTimeout)
	expectSucceeded(t, fin)
	s := getDeployment(t, ns, "carts").Spec.Strategy
	if s.Type != "RollingUpdate" || s.RollingUpdate == nil || s.RollingUpdate.MaxSurge.String() != "50%" || s.RollingUpdate.MaxUnavailable.String() != "0" {
		t.Errorf("live strategy = %+v", s)
	}
	if fin.Deployment == nil || fin.Deployment.Rollout == nil || fin.Deployment.Rollout.Strategy != "RollingUpdate" {
		t.Errorf("finished rollout = %+v", fin.Deployment)
	}

	data["deployment"].(map[string]any)["rollout"] = map[string]any{"maxSurge": 1.5}
	_, fin = suite.finished(t, suite.trigger(t, suite.nats, data), deployTimeout)
	expectErrored(t, fin, "deployment.rollout.maxSurge")
}
