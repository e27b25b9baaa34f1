package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/helm-service/helm-service/pkg/events"
)

const deployTimeout = 3 * time.Minute

func deploymentTrigger(project, stage, service, strategy string, values map[string]any) map[string]any {
	return map[string]any{
		"project": project, "stage": stage, "service": service,
		"labels":              map[string]string{"suite": "e2e"},
		"configurationChange": map[string]any{"values": values},
		"deployment":          map[string]any{"deploymentstrategy": strategy, "deploymentURIsLocal": []string{}, "deploymentURIsPublic": []string{}},
	}
}

// release describes the newest Helm release record of name in namespace, as
// stored by Helm in the cluster.
type release struct {
	revision string
	status   string
	labels   map[string]string
}

func helmRelease(t *testing.T, namespace, name string) release {
	t.Helper()
	secrets, err := suite.clientset.CoreV1().Secrets(namespace).List(ctx(t), metav1.ListOptions{LabelSelector: "owner=helm,name=" + name})
	if err != nil {
		t.Fatal(err)
	}
	var newest release
	for _, s := range secrets.Items {
		if len(s.Labels["version"]) > len(newest.revision) || (len(s.Labels["version"]) == len(newest.revision) && s.Labels["version"] > newest.revision) {
			newest = release{revision: s.Labels["version"], status: s.Labels["status"], labels: s.Labels}
		}
	}
	if newest.revision == "" {
		t.Fatalf("no Helm release %s in %s", name, namespace)
	}
	return newest
}

func getDeployment(t *testing.T, namespace, name string) *appsv1.Deployment {
	t.Helper()
	d, err := suite.clientset.AppsV1().Deployments(namespace).Get(ctx(t), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("deployment %s/%s: %v", namespace, name, err)
	}
	return d
}

func expectSucceeded(t *testing.T, data events.DeploymentFinished) {
	t.Helper()
	if data.Status != events.StatusSucceeded || data.Result != events.ResultPass {
		t.Fatalf("finished %s/%s: %s", data.Status, data.Result, data.Message)
	}
}

func expectErrored(t *testing.T, data events.DeploymentFinished, wants ...string) {
	t.Helper()
	if data.Status != events.StatusErrored || data.Result != events.ResultFail {
		t.Fatalf("finished %s/%s (%s), want errored/fail", data.Status, data.Result, data.Message)
	}
	for _, w := range wants {
		if !strings.Contains(data.Message, w) {
			t.Errorf("message %q does not contain %q", data.Message, w)
		}
	}
}

// TestInstallUpgradeAndBrokenChart installs a service, upgrades it with new
// values, then deploys a chart that fails to render and checks that the
// previous revision keeps serving.
func TestInstallUpgradeAndBrokenChart(t *testing.T) {
	project, stage, ns := suite.project("sockshop"), "staging", suite.project("sockshop")+"-staging"

	start := time.Now()
	id := suite.trigger(t, suite.nats, deploymentTrigger(project, stage, "carts", "direct", map[string]any{"image": "example/carts:1"}))
	ev, data := suite.finished(t, id, deployTimeout)
	t.Logf("first install: trigger published → .finished received in %s", time.Since(start).Round(time.Millisecond))
	expectSucceeded(t, data)
	if got := events.StringExtension(ev, events.ExtTriggeredID); got != id {
		t.Errorf("triggeredid = %q, want %q", got, id)
	}
	if ev.Source() != "helm-service" || events.StringExtension(ev, events.ExtGitCommitID) != "0123abc" || events.StringExtension(ev, events.ExtContext) != "e2e-"+t.Name() {
		t.Errorf("finished attributes: source %q, extensions %v", ev.Source(), ev.Extensions())
	}
	if data.Labels["suite"] != "e2e" {
		t.Errorf("labels not copied: %v", data.Labels)
	}
	d := data.Deployment
	if d == nil || d.HelmRevision != 1 || d.DeploymentStrategy != "direct" ||
		len(d.DeploymentURIsLocal) != 1 || d.DeploymentURIsLocal[0] != "http://carts."+ns+":80" ||
		len(d.DeploymentURIsPublic) != 1 || d.DeploymentURIsPublic[0] != "http://carts."+ns+".svc.cluster.local:80" {
		t.Errorf("deployment data = %+v", d)
	}

	dep := getDeployment(t, ns, "carts")
	if img := dep.Spec.Template.Spec.Containers[0].Image; img != "example/carts:1" {
		t.Errorf("image = %s, want the trigger's example/carts:1", img)
	}
	if dep.Status.ReadyReplicas != 2 {
		t.Errorf("ready replicas = %d, want 2 (helm-service waits for readiness)", dep.Status.ReadyReplicas)
	}
	rel := helmRelease(t, ns, "carts")
	if rel.revision != "1" || rel.status != "deployed" || rel.labels["keptn.sh/service"] != "carts" || rel.labels["keptn.sh/project"] != project {
		t.Errorf("release = %+v", rel)
	}
	namespace, err := suite.clientset.CoreV1().Namespaces().Get(ctx(t), ns, metav1.GetOptions{})
	if err != nil || namespace.Labels["app.kubernetes.io/managed-by"] != "helm-service" {
		t.Errorf("namespace %s: %v, labels %v", ns, err, namespace.Labels)
	}

	// Upgrade with new values.
	id = suite.trigger(t, suite.nats, deploymentTrigger(project, stage, "carts", "direct", map[string]any{"image": "example/carts:2", "replicaCount": 3}))
	_, data = suite.finished(t, id, deployTimeout)
	expectSucceeded(t, data)
	if data.Deployment.HelmRevision != 2 {
		t.Errorf("revision = %d, want 2", data.Deployment.HelmRevision)
	}
	dep = getDeployment(t, ns, "carts")
	if img := dep.Spec.Template.Spec.Containers[0].Image; img != "example/carts:2" || dep.Status.ReadyReplicas != 3 {
		t.Errorf("after upgrade: image %s, %d ready; want example/carts:2 with 3 ready", img, dep.Status.ReadyReplicas)
	}
	if rel := helmRelease(t, ns, "carts"); rel.revision != "2" || rel.status != "deployed" {
		t.Errorf("release after upgrade = %+v", rel)
	}

	// A stage-specific chart that does not render.
	broken := filepath.Join(suite.chartDir, project, stage, "carts")
	if err := os.CopyFS(broken, os.DirFS(filepath.Join(suite.chartDir, "carts"))); err != nil {
		t.Fatal(err)
	}
	tpl := filepath.Join(broken, "templates", "deployment.yaml")
	if err := os.WriteFile(tpl, []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	id = suite.trigger(t, suite.nats, deploymentTrigger(project, stage, "carts", "direct", map[string]any{"image": "example/carts:3"}))
	_, data = suite.finished(t, id, deployTimeout)
	expectErrored(t, data, "helm upgrade of release "+ns+"/carts", "deployment.yaml")
	if rel := helmRelease(t, ns, "carts"); rel.revision != "2" || rel.status != "deployed" {
		t.Errorf("after a broken chart the release is %+v, want revision 2 still deployed", rel)
	}
	if img := getDeployment(t, ns, "carts").Spec.Template.Spec.Containers[0].Image; img != "example/carts:2" {
		t.Errorf("after a broken chart the image is %s, want example/carts:2 still serving", img)
	}
}

func TestUserManaged(t *testing.T) {
	project, ns := suite.project("um"), suite.project("um")+"-dev"
	id := suite.trigger(t, suite.nats, deploymentTrigger(project, "dev", "carts", "user_managed", nil))
	_, data := suite.finished(t, id, deployTimeout)
	expectSucceeded(t, data)
	if data.Deployment.DeploymentStrategy != "user_managed" || data.Deployment.HelmRevision != 1 {
		t.Errorf("deployment data = %+v", data.Deployment)
	}
	if img := getDeployment(t, ns, "carts").Spec.Template.Spec.Containers[0].Image; img != "docker.io/keptnexamples/carts:0.13.1" {
		t.Errorf("image = %s, want the chart's own default", img)
	}
}

// TestBadInput sends each class of bad input and expects an errored
// .finished naming the problem, with nothing deployed.
func TestBadInput(t *testing.T) {
	project := suite.project("bad")
	cases := []struct {
		name string
		data map[string]any
		want []string
	}{
		{"missing project", deploymentTrigger("", "dev", "carts", "direct", nil), []string{"project is missing"}},
		{"missing stage and service", deploymentTrigger(project, "", "", "direct", nil), []string{"stage is missing", "service is missing"}},
		{"invalid name", deploymentTrigger(project, "dev", "Carts_V2", "direct", nil), []string{`service "Carts_V2" is not a valid Kubernetes name`}},
		{"unknown strategy", deploymentTrigger(project, "dev", "carts", "canary-magic", nil), []string{`deployment.deploymentstrategy "canary-magic"`}},
		{"missing chart", deploymentTrigger(project, "dev", "orders", "direct", nil), []string{`chart not found for service "orders"`, filepath.Join(suite.chartDir, "orders")}},
		{"render failure", deploymentTrigger(project, "dev", "carts", "direct", map[string]any{"image": nil}), []string{"values.image is required"}},
		{"namespace not allowed", deploymentTrigger("kube", "system", "carts", "direct", nil), []string{`namespace "kube-system" is not allowed`, "ALLOWED_NAMESPACES"}},
		{"wrong value type", map[string]any{"project": project, "stage": "dev", "service": "carts", "configurationChange": map[string]any{"values": []string{"image=x"}}}, []string{"field configurationChange.values"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := suite.trigger(t, suite.nats, c.data)
			_, data := suite.finished(t, id, deployTimeout)
			expectErrored(t, data, c.want...)
		})
	}
	t.Run("malformed JSON", func(t *testing.T) {
		body := []byte(`{"specversion":"1.0","id":"malformed-` + suite.runID + `","source":"e2e-test","type":"sh.keptn.event.deployment.triggered","data":{"project":`)
		suite.publishRaw(t, suite.nats, body)
		answers := suite.answers.await(t, "", deployTimeout)
		var msg string
		for _, a := range answers {
			if strings.HasSuffix(a.Type(), ".finished") {
				var d events.Common
				_ = a.DataAs(&d)
				msg = d.Message
			}
		}
		if !strings.Contains(msg, "not a JSON CloudEvent") {
			t.Errorf("finished message = %q", msg)
		}
	})
	t.Run("invalid CloudEvent", func(t *testing.T) {
		id := "invalid-ce-" + suite.runID
		body := []byte(`{"specversion":"1.0","id":"` + id + `","type":"sh.keptn.event.deployment.triggered","data":{"project":"p","stage":"s","service":"c"}}`)
		suite.publishRaw(t, suite.nats, body)
		_, data := suite.finished(t, id, deployTimeout)
		expectErrored(t, data, "not a valid CloudEvent", "source")
	})
	// Nothing of the project was deployed.
	if _, err := suite.clientset.CoreV1().Namespaces().Get(ctx(t), project+"-dev", metav1.GetOptions{}); err == nil {
		secrets, _ := suite.clientset.CoreV1().Secrets(project+"-dev").List(ctx(t), metav1.ListOptions{LabelSelector: "owner=helm"})
		if len(secrets.Items) != 0 {
			t.Errorf("bad input left %d Helm release records in %s-dev", len(secrets.Items), project)
		}
	}
}

// TestTwoServicesAtOnce deploys two services concurrently.
func TestTwoServicesAtOnce(t *testing.T) {
	project, ns := suite.project("par"), suite.project("par")+"-prod"
	if err := os.CopyFS(filepath.Join(suite.chartDir, project, "orders"), os.DirFS(filepath.Join(suite.chartDir, "carts"))); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ids := map[string]string{}
	for _, svc := range []string{"carts", "orders"} {
		ids[svc] = suite.trigger(t, suite.nats, deploymentTrigger(project, "prod", svc, "direct", map[string]any{"image": "example/" + svc + ":1"}))
	}
	var wg sync.WaitGroup
	for svc, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, data := suite.finished(t, id, deployTimeout)
			if data.Status != events.StatusSucceeded {
				t.Errorf("%s: %s: %s", svc, data.Status, data.Message)
			}
		}()
	}
	wg.Wait()
	t.Logf("two services deployed concurrently in %s", time.Since(start).Round(time.Millisecond))
	for _, svc := range []string{"carts", "orders"} {
		if img := getDeployment(t, ns, svc).Spec.Template.Spec.Containers[0].Image; img != "example/"+svc+":1" {
			t.Errorf("%s image = %s", svc, img)
		}
	}
}

// TestNoClusterConfigured runs a second helm-service, on its own NATS
// server, with no Kubernetes configuration at all.
func TestNoClusterConfigured(t *testing.T) {
	other := startInstance(t, map[string]string{"KUBECONFIG": ""})
	logData, _ := os.ReadFile(other.service.logPath)
	if !strings.Contains(string(logData), "no Kubernetes cluster configured") {
		t.Errorf("startup log does not say that no cluster is configured:\n%s", logData)
	}
	id := suite.trigger(t, other.nats, deploymentTrigger("sockshop", "dev", "carts", "direct", nil))
	_, data := other.finished(t, id, 30*time.Second)
	expectErrored(t, data, "no Kubernetes cluster configured", "KUBECONFIG")
}

// TestWaitTimeoutNamesTheWorkload runs a helm-service with a short
// WAIT_TIMEOUT and deploys pods that no node can take: the errored
// .finished must say which workload is not ready and why.
func TestWaitTimeoutNamesTheWorkload(t *testing.T) {
	// Fail-fast would end this wait on the unschedulable pod; this test is
	// about the timeout path.
	other := startInstance(t, map[string]string{"WAIT_TIMEOUT": "4s", "FAIL_FAST": "false"})
	project := suite.project("slow")
	id := suite.trigger(t, other.nats, deploymentTrigger(project, "dev", "carts", "direct", map[string]any{"nodeSelector": map[string]any{"no-such-node": "true"}}))
	_, data := other.finished(t, id, time.Minute)
	expectErrored(t, data, "helm install of release "+project+"-dev/carts", "not ready: deployment "+project+"-dev/carts", "0 available")
	t.Logf("timeout message: %s", data.Message)
}

// TestCreatedNamespaceEnforcesPodSecurity: a namespace helm-service creates
// carries Pod Security's enforce=baseline (NAMESPACE_LABELS' default), so
// the API server refuses privileged pods in it; the sample chart deploys.
func TestCreatedNamespaceEnforcesPodSecurity(t *testing.T) {
	project := suite.project("podsec")
	_, data := suite.finished(t, suite.trigger(t, suite.nats, deploymentTrigger(project, "dev", "carts", "direct", nil)), deployTimeout)
	expectSucceeded(t, data)
	ns, err := suite.clientset.CoreV1().Namespaces().Get(ctx(t), project+"-dev", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ns.Labels["pod-security.kubernetes.io/enforce"]; got != "baseline" {
		t.Errorf("namespace %s: pod-security.kubernetes.io/enforce = %q, want baseline", ns.Name, got)
	}
	privileged := true
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "privileged", Namespace: ns.Name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "c", Image: "example/x:1", SecurityContext: &corev1.SecurityContext{Privileged: &privileged},
		}}},
	}
	if _, err := suite.clientset.CoreV1().Pods(ns.Name).Create(ctx(t), pod, metav1.CreateOptions{}); err == nil || !strings.Contains(err.Error(), "baseline") {
		t.Errorf("a privileged pod in %s: %v, want refused by Pod Security baseline", ns.Name, err)
	}
}
