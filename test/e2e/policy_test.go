package e2e

import (
	rbacv1 "k8s.io/api/rbac/v1"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	helmrelease "helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	helmtime "helm.sh/helm/v3/pkg/time"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/kube"
)

// otherTeamsNamespace creates a namespace helm-service has nothing to do
// with, removed at the end of the test.
func otherTeamsNamespace(t *testing.T, name string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"team": "other"}}}
	if _, err := suite.clientset.CoreV1().Namespaces().Create(ctx(t), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = suite.clientset.CoreV1().Namespaces().Delete(ctx(t), name, metav1.DeleteOptions{})
	})
	return name
}

// serviceNamespace creates the namespace of a project's stage by hand, as
// helm-service labels the ones it creates.
func serviceNamespace(t *testing.T, project, stage string) string {
	t.Helper()
	name := project + "-" + stage
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		kube.LabelManagedBy: kube.ManagedByValue, kube.LabelProject: project, kube.LabelStage: stage,
	}}}
	if _, err := suite.clientset.CoreV1().Namespaces().Create(ctx(t), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return name
}

// installWithHelm installs the chart in dir as the helm CLI would: with
// the Helm SDK's own clients, as the suite's cluster admin, none of
// helm-service's checks in between.
func installWithHelm(t *testing.T, namespace, name, dir string, values map[string]any, labels map[string]string) {
	t.Helper()
	ch, err := loader.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	in := action.NewInstall(helmCLIConfig(t, namespace))
	in.Namespace, in.ReleaseName, in.Labels = namespace, name, labels
	in.Wait, in.Timeout = true, 2*time.Minute
	if _, err := in.Run(ch, values); err != nil {
		t.Fatalf("helm install %s/%s: %v", namespace, name, err)
	}
}

// uninstallWithHelm uninstalls a release as the helm CLI would.
func uninstallWithHelm(t *testing.T, namespace, name string) error {
	t.Helper()
	un := action.NewUninstall(helmCLIConfig(t, namespace))
	un.Wait, un.Timeout = true, time.Minute
	_, err := un.Run(name)
	return err
}

// helmCLIConfig is the Helm SDK's action configuration for namespace, as
// the helm CLI builds it from the suite's kubeconfig.
func helmCLIConfig(t *testing.T, namespace string) *action.Configuration {
	t.Helper()
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig, flags.Namespace = &suite.kubeconfig, &namespace
	cfg := new(action.Configuration)
	if err := cfg.Init(flags, namespace, "secret", func(string, ...any) {}); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// expectNoClusterRole fails if the ClusterRole exists.
func expectNoClusterRole(t *testing.T, name string) {
	t.Helper()
	if _, err := suite.clientset.RbacV1().ClusterRoles().Get(ctx(t), name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("ClusterRole %s: %v, want none", name, err)
	}
}

// expectNoConfigMap fails if the ConfigMap exists.
func expectNoConfigMap(t *testing.T, namespace, name string) {
	t.Helper()
	if _, err := suite.clientset.CoreV1().ConfigMaps(namespace).Get(ctx(t), name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("ConfigMap %s/%s: %v, want none", namespace, name, err)
	}
}

// TestChartReachingOutOfItsNamespaceIsRefused: a chart with a ConfigMap in
// another namespace, a hook in another namespace, a ClusterRole, or a
// ClusterRole inside a kind: List is refused with an errored .finished
// naming the object, and nothing is created anywhere: not the object, not
// the chart's own objects, no hook, no release record.
func TestChartReachingOutOfItsNamespaceIsRefused(t *testing.T) {
	project, stage := suite.project("reach"), "dev"
	ns := project + "-" + stage
	other := otherTeamsNamespace(t, project+"-other")
	t.Cleanup(func() { _ = suite.clientset.CoreV1().Namespaces().Delete(ctx(t), ns, metav1.DeleteOptions{}) })

	for _, tc := range []struct {
		service string
		values  map[string]any
		want    []string
	}{
		{"elsewhere", map[string]any{"elsewhere": other},
			[]string{`ConfigMap "elsewhere-elsewhere" in namespace "` + other + `"`, `its own namespace "` + ns + `"`, "no setting opens other namespaces"}},
		{"hook", map[string]any{"hookElsewhere": other},
			[]string{`ConfigMap "hook-hook" in namespace "` + other + `"`, "hook hook-hook", "no setting opens other namespaces"}},
		{"role", map[string]any{"clusterRole": true},
			[]string{`ClusterRole.rbac.authorization.k8s.io "` + ns + `-role" (cluster-scoped)`, "ALLOWED_CLUSTER_KINDS", "add ClusterRole.rbac.authorization.k8s.io to ALLOWED_CLUSTER_KINDS"}},
		{"listed", map[string]any{"listed": true},
			[]string{`ClusterRole.rbac.authorization.k8s.io "` + ns + `-listed-listed" (cluster-scoped)`, "ALLOWED_CLUSTER_KINDS"}},
	} {
		t.Run(tc.service, func(t *testing.T) {
			copyChart(t, project, tc.service, "reaching")
			_, data := suite.finished(t, suite.trigger(t, suite.nats, deploymentTrigger(project, stage, tc.service, "direct", tc.values)), deployTimeout)
			t.Logf("answer: %s", data.Message)
			expectErrored(t, data, tc.want...)
			expectNoRelease(t, ns, tc.service)
			expectNoConfigMap(t, ns, tc.service+"-own")
			expectNoConfigMap(t, other, tc.service+"-elsewhere")
			expectNoConfigMap(t, other, tc.service+"-hook")
			expectNoClusterRole(t, ns+"-"+tc.service)
			expectNoClusterRole(t, ns+"-"+tc.service+"-listed")
		})
	}
}

// TestBlueGreenChartReachingOutIsRefused: the same for a blue/green
// service: neither its primary nor its canary release is installed.
func TestBlueGreenChartReachingOutIsRefused(t *testing.T) {
	project, stage := suite.project("reachbg"), "prod"
	ns := project + "-" + stage
	t.Cleanup(func() { _ = suite.clientset.CoreV1().Namespaces().Delete(ctx(t), ns, metav1.DeleteOptions{}) })
	copyChart(t, project, "role", "reaching")
	_, data := suite.finished(t, suite.trigger(t, suite.nats, deploymentTrigger(project, stage, "role", "blue_green_service", map[string]any{"clusterRole": true})), deployTimeout)
	t.Logf("answer: %s", data.Message)
	expectErrored(t, data, "ClusterRole.rbac.authorization.k8s.io", "ALLOWED_CLUSTER_KINDS")
	for _, name := range []string{"role-primary", "role-canary"} {
		expectNoRelease(t, ns, name)
		expectNoConfigMap(t, ns, name+"-own")
		expectNoClusterRole(t, ns+"-"+name)
	}
}

// TestAllowedClusterKindsOpensANamedKind: with ALLOWED_CLUSTER_KINDS
// naming ClusterRole, the chart's ClusterRole, also inside a List, is
// deployed; a ConfigMap in another namespace is still refused.
func TestAllowedClusterKindsOpensANamedKind(t *testing.T) {
	inst := startInstance(t, map[string]string{"ALLOWED_CLUSTER_KINDS": "ClusterRole.rbac.authorization.k8s.io"})
	project, stage := suite.project("reachok"), "dev"
	ns := project + "-" + stage
	other := otherTeamsNamespace(t, project+"-other")
	copyChart(t, project, "role", "reaching")
	// Opening a kind in the policy gives the deployer no right to it: the
	// operator who opens it grants the namespace's deployer the kind too.
	grantClusterRoles(t, ns)
	t.Cleanup(func() {
		for _, name := range []string{ns + "-role", ns + "-role-listed"} {
			_ = suite.clientset.RbacV1().ClusterRoles().Delete(ctx(t), name, metav1.DeleteOptions{})
		}
		_ = suite.clientset.CoreV1().Namespaces().Delete(ctx(t), ns, metav1.DeleteOptions{})
	})

	_, data := inst.finished(t, inst.trigger(t, inst.nats, deploymentTrigger(project, stage, "role", "direct", map[string]any{"clusterRole": true, "listed": true})), deployTimeout)
	expectSucceeded(t, data)
	for _, name := range []string{ns + "-role", ns + "-role-listed"} {
		if _, err := suite.clientset.RbacV1().ClusterRoles().Get(ctx(t), name, metav1.GetOptions{}); err != nil {
			t.Errorf("ClusterRole %s: %v", name, err)
		}
	}

	_, data = inst.finished(t, inst.trigger(t, inst.nats, deploymentTrigger(project, stage, "role", "direct", map[string]any{"clusterRole": true, "listed": true, "elsewhere": other})), deployTimeout)
	expectErrored(t, data, `ConfigMap "role-elsewhere" in namespace "`+other+`"`)
	expectNoConfigMap(t, other, "role-elsewhere")
	if r := helmRelease(t, ns, "role"); r.revision != "1" || r.status != "deployed" {
		t.Errorf("release after the refused upgrade: revision %s %s, want 1 deployed", r.revision, r.status)
	}
}

// forgeRecord writes a release record by hand, as Helm's Secret driver
// encodes it, in namespace: revision 1 of release name in status, started
// an hour ago, listing manifest, labelled as helm-service labels its own.
func forgeRecord(t *testing.T, namespace, project, stage, name string, status helmrelease.Status, manifest string) {
	t.Helper()
	store := storage.Init(driver.NewSecrets(suite.clientset.CoreV1().Secrets(namespace)))
	rel := &helmrelease.Release{
		Name: name, Namespace: namespace, Version: 1, Manifest: manifest,
		Chart:  testdataChart(t, "carts"),
		Config: map[string]any{},
		Info:   &helmrelease.Info{Status: status, LastDeployed: helmtime.Time{Time: time.Now().Add(-time.Hour)}, Description: "Initial install underway"},
		Labels: map[string]string{kube.LabelProject: project, kube.LabelStage: stage, kube.LabelService: name},
	}
	if err := store.Create(rel); err != nil {
		t.Fatal(err)
	}
}

// TestForgedPendingRecordIsNotRecovered: a pending-install record planted
// by hand whose manifest lists another team's Namespace is not recovered
// (recovery would uninstall what it lists): the next deployment of that
// release, a rollback and the service's removal are each refused, naming
// the record, and the Namespace survives.
func TestForgedPendingRecordIsNotRecovered(t *testing.T) {
	project, stage := suite.project("forged"), "dev"
	victim := otherTeamsNamespace(t, project+"-victim")
	ns := serviceNamespace(t, project, stage)
	t.Cleanup(func() { _ = suite.clientset.CoreV1().Namespaces().Delete(ctx(t), ns, metav1.DeleteOptions{}) })
	copyChart(t, project, "carts", "carts")
	forgeRecord(t, ns, project, stage, "carts", helmrelease.StatusPendingInstall,
		"---\n# Source: carts/templates/namespace.yaml\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: "+victim+"\n")
	wants := []string{`Namespace "` + victim + `" (cluster-scoped)`, "stored record of release " + ns + "/carts at revision 1", "sh.helm.release.v1.carts.v1"}

	_, data := suite.finished(t, suite.trigger(t, suite.nats, deploymentTrigger(project, stage, "carts", "direct", nil)), deployTimeout)
	t.Logf("deployment: %s", data.Message)
	expectErrored(t, data, wants...)
	namespaceStays(t, victim)
	if r := helmRelease(t, ns, "carts"); r.revision != "1" || r.status != string(helmrelease.StatusPendingInstall) {
		t.Errorf("record after the refusal: revision %s %s, want the forged one untouched", r.revision, r.status)
	}

	rb := suite.revertIn(t, "rollback", "e2e-forged-"+suite.runID, map[string]any{"project": project, "stage": stage, "service": "carts"})
	t.Logf("rollback: %s", rb.Message)
	if rb.Status != events.StatusErrored {
		t.Errorf("rollback finished %s %q, want errored", rb.Status, rb.Message)
	}
	for _, w := range wants {
		if !strings.Contains(rb.Message, w) {
			t.Errorf("rollback message %q does not contain %q", rb.Message, w)
		}
	}
	namespaceStays(t, victim)

	_, out := suite.serviceDeleted(t, project, "carts")
	t.Logf("removal: %s %s", out.Status, out.Message)
	if out.Status == events.StatusSucceeded && !strings.Contains(out.Message, "sh.helm.release.v1.carts.v1") {
		t.Errorf("removal finished %s %q, want it to refuse the record", out.Status, out.Message)
	}
	if !strings.Contains(out.Message, `Namespace "`+victim+`"`) {
		t.Errorf("removal message %q does not name Namespace %s", out.Message, victim)
	}
	namespaceStays(t, victim)
}

// grantClusterRoles lets the deployer of namespace manage ClusterRoles
// (escalate: the chart's role holds rights the deployer does not), as an
// operator does who opens the kind with ALLOWED_CLUSTER_KINDS.
func grantClusterRoles(t *testing.T, namespace string) {
	t.Helper()
	name := namespace + "-clusterroles"
	if _, err := suite.clientset.RbacV1().ClusterRoles().Create(ctx(t), &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{rbacv1.GroupName}, Resources: []string{"clusterroles"},
			Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete", "escalate"},
		}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := suite.clientset.RbacV1().ClusterRoleBindings().Create(ctx(t), &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: deployerAccount, Namespace: namespace}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = suite.clientset.RbacV1().ClusterRoleBindings().Delete(ctx(t), name, metav1.DeleteOptions{})
		_ = suite.clientset.RbacV1().ClusterRoles().Delete(ctx(t), name, metav1.DeleteOptions{})
	})
}
