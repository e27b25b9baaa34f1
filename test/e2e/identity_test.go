package e2e

import (
	"context"
	"encoding/base64"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/test/deployerrole/role"
)

// deployerAccount and deployerRole are the defaults of
// DEPLOYER_SERVICE_ACCOUNT and DEPLOYER_ROLE.
const deployerAccount, deployerRole = "helm-service-deployer", "helm-service-deployer"

// installDeployerRole applies the deployer ClusterRole of the chart in
// chart/ (rendered with the Helm SDK as release helm-service, whose role is
// DEPLOYER_ROLE's default), which the suite's helm-service, impersonating
// the deployer of each namespace, needs.
func installDeployerRole(ctx context.Context, cs kubernetes.Interface) error {
	_, err := role.Apply(ctx, cs, "../../chart", "helm-service", map[string]string{"e2e": "deployer-role"})
	return err
}

// prepareNamespace creates a namespace by hand as a platform team would for
// helm-service to deploy into: labelled for project and stage, with the
// deployer ServiceAccount bound to the given Role of its own.
func prepareNamespace(t *testing.T, project, stage string, rules []rbacv1.PolicyRule) string {
	t.Helper()
	name := project + "-" + stage
	cs := suite.clientset
	if _, err := cs.CoreV1().Namespaces().Create(ctx(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		"app.kubernetes.io/managed-by": "helm-service", "keptn.sh/project": project, "keptn.sh/stage": stage,
	}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ServiceAccounts(name).Create(ctx(t), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: deployerAccount}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().Roles(name).Create(ctx(t), &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "deployer"}, Rules: rules}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().RoleBindings(name).Create(ctx(t), &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "deployer"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "deployer"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: deployerAccount, Namespace: name}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return name
}

// deployerRules are the rules of the deployer ClusterRole in the cluster,
// without the resources left out.
func deployerRules(t *testing.T, without ...string) []rbacv1.PolicyRule {
	t.Helper()
	role, err := suite.clientset.RbacV1().ClusterRoles().Get(ctx(t), deployerRole, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var rules []rbacv1.PolicyRule
	for _, r := range role.Rules {
		r.Resources = slices.DeleteFunc(slices.Clone(r.Resources), func(res string) bool { return slices.Contains(without, res) })
		if len(r.Resources) > 0 {
			rules = append(rules, r)
		}
	}
	return rules
}

// TestDeploymentActsAsTheNamespacesDeployer: in a namespace whose deployer
// may not write ConfigMaps, a chart with one fails naming that permission
// and the deployer; once the Role grants it, the next deployment succeeds.
func TestDeploymentActsAsTheNamespacesDeployer(t *testing.T) {
	project, stage := suite.project("ident"), "dev"
	ns := prepareNamespace(t, project, stage, deployerRules(t, "configmaps"))

	_, data := suite.finished(t, suite.trigger(t, suite.nats, deploymentTrigger(project, stage, "carts", "direct", nil)), deployTimeout)
	if data.Status == events.StatusSucceeded {
		t.Fatalf("deployed with a deployer that may not create ConfigMaps: %s", data.Message)
	}
	for _, want := range []string{`is forbidden: User "system:serviceaccount:` + ns + ":" + deployerAccount + `" cannot`, `resource "configmaps"`} {
		if !strings.Contains(data.Message, want) {
			t.Errorf("message %q does not contain %q", data.Message, want)
		}
	}
	if _, err := suite.clientset.CoreV1().ConfigMaps(ns).Get(ctx(t), "carts-config", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("ConfigMap carts-config: %v, want none", err)
	}

	role, err := suite.clientset.RbacV1().Roles(ns).Get(ctx(t), "deployer", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	role.Rules = deployerRules(t)
	if _, err := suite.clientset.RbacV1().Roles(ns).Update(ctx(t), role, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, data = suite.finished(t, suite.trigger(t, suite.nats, deploymentTrigger(project, stage, "carts", "direct", nil)), deployTimeout)
	expectSucceeded(t, data)
	if _, err := suite.clientset.CoreV1().ConfigMaps(ns).Get(ctx(t), "carts-config", metav1.GetOptions{}); err != nil {
		t.Errorf("ConfigMap carts-config after the grant: %v", err)
	}
}

// lookupChart copies a Secret of another namespace, read with lookup, into
// a ConfigMap.
var lookupChart = map[string]string{
	"Chart.yaml": "apiVersion: v2\nname: peek\nversion: 0.1.0\n",
	"templates/configmap.yaml": `{{- $s := lookup "v1" "Secret" .Values.from "vault" }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-peek
data:
  found: {{ dig "data" "password" "" $s | b64dec | quote }}
  all: {{ $s | toJson | quote }}
`,
}

// TestLookupOfAForeignSecretYieldsNothing: a chart that reads a Secret of
// another namespace with lookup gets nothing of it into the cluster or the
// answer: its deployer may not read there, so the render fails.
func TestLookupOfAForeignSecretYieldsNothing(t *testing.T) {
	project, stage := suite.project("peek"), "dev"
	vault := project + "-vault"
	if _, err := suite.clientset.CoreV1().Namespaces().Create(ctx(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: vault}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	secret := "s3cr3t-" + suite.runID
	if _, err := suite.clientset.CoreV1().Secrets(vault).Create(ctx(t), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "vault"}, StringData: map[string]string{"password": secret},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	writeChart(t, filepath.Join(suite.chartDir, project, "peek"), lookupChart)

	_, data := suite.finished(t, suite.trigger(t, suite.nats, deploymentTrigger(project, stage, "peek", "direct", map[string]any{"from": vault})), deployTimeout)
	t.Logf("finished %s/%s: %s", data.Status, data.Result, data.Message)
	encoded := base64.StdEncoding.EncodeToString([]byte(secret))
	if strings.Contains(data.Message, secret) || strings.Contains(data.Message, encoded) {
		t.Errorf("the answer carries the Secret: %s", data.Message)
	}
	ns := project + "-" + stage
	cms, err := suite.clientset.CoreV1().ConfigMaps(ns).List(ctx(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cm := range cms.Items {
		for k, v := range cm.Data {
			if strings.Contains(v, secret) || strings.Contains(v, encoded) {
				t.Errorf("ConfigMap %s/%s key %s holds the Secret of %s", ns, cm.Name, k, vault)
			}
		}
	}
	if data.Status == events.StatusSucceeded {
		t.Errorf("deployed a chart whose lookup of another namespace's Secret should be forbidden")
	}
	if !strings.Contains(data.Message, "forbidden") {
		t.Errorf("message %q does not say the lookup was forbidden", data.Message)
	}
}

// TestServiceWithTheChartsOwnRBAC runs helm-service with the rights the
// chart gives it in clusterWide mode (no rights of its own on workloads,
// ConfigMaps or Secrets beyond listing release records): it deploys a
// service into a namespace it creates, as that namespace's deployer, and
// removes it.
func TestServiceWithTheChartsOwnRBAC(t *testing.T) {
	name := "hs-own-" + suite.runID
	inst := startInstance(t, map[string]string{
		"KUBECONFIG":    chartKubeconfig(t, name, name, map[string]any{"rbac": map[string]any{"mode": "clusterWide"}}),
		"DEPLOYER_ROLE": name + "-deployer",
	})
	project := suite.project("ownrbac")
	ns := project + "-dev"
	_, data := inst.finished(t, inst.trigger(t, inst.nats, deploymentTrigger(project, "dev", "carts", "direct", nil)), deployTimeout)
	expectSucceeded(t, data)
	if r := helmRelease(t, ns, "carts"); r.status != "deployed" {
		t.Fatalf("release %s/carts: %s", ns, r.status)
	}
	if _, err := suite.clientset.CoreV1().ServiceAccounts(ns).Get(ctx(t), deployerAccount, metav1.GetOptions{}); err != nil {
		t.Fatalf("the deployer of %s: %v", ns, err)
	}
	rb, err := suite.clientset.RbacV1().RoleBindings(ns).Get(ctx(t), deployerAccount, metav1.GetOptions{})
	if err != nil || rb.RoleRef.Name != name+"-deployer" {
		t.Fatalf("RoleBinding of the deployer of %s: %+v, %v", ns, rb, err)
	}

	_, out := inst.serviceDeleted(t, project, "carts")
	if out.Status != events.StatusSucceeded || out.Removed == nil || !slices.Equal(out.Removed.Releases, []string{ns + "/carts"}) {
		t.Fatalf("finished %s %q, removed %+v; want the release in %s", out.Status, out.Message, out.Removed, ns)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		l, err := suite.clientset.CoreV1().Secrets(ns).List(ctx(t), metav1.ListOptions{LabelSelector: "owner=helm,name=carts"})
		if err == nil && len(l.Items) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("release records of carts left in %s: %v", ns, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestTrustedOnlyModeWithTheChartsRBAC: with deployer.impersonate=false
// the chart binds the deployer role to helm-service itself, which then
// deploys with IMPERSONATE=false and creates no deployer account.
func TestTrustedOnlyModeWithTheChartsRBAC(t *testing.T) {
	name := "hs-trust-" + suite.runID
	inst := startInstance(t, map[string]string{
		"KUBECONFIG":  chartKubeconfig(t, name, name, map[string]any{"deployer": map[string]any{"impersonate": false}}),
		"IMPERSONATE": "false",
	})
	project := suite.project("trusted")
	ns := project + "-dev"
	_, data := inst.finished(t, inst.trigger(t, inst.nats, deploymentTrigger(project, "dev", "carts", "direct", nil)), deployTimeout)
	expectSucceeded(t, data)
	if _, err := suite.clientset.CoreV1().ServiceAccounts(ns).Get(ctx(t), deployerAccount, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("deployer account in %s with IMPERSONATE=false: %v, want none", ns, err)
	}
}
