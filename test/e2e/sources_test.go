package e2e

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/helm-service/helm-service/pkg/charts/chartstest"
	"github.com/helm-service/helm-service/pkg/events"
)

// triggerAt publishes a deployment.triggered with data and, unless empty,
// the gitcommitid commit, and returns its id.
func (e *env) triggerAt(t *testing.T, data map[string]any, commit string) string {
	t.Helper()
	ev := newEvent(t, "sh.keptn.event.deployment.triggered", data)
	if commit != "" {
		ev.SetExtension(events.ExtGitCommitID, commit)
	}
	return send(t, e.nats, ev)
}

// deployChart sends a direct deployment of service, with deployment.chart
// when chart is not nil, and the gitcommitid commit, and returns the
// .finished data.
func (e *env) deployChart(t *testing.T, project, stage, service string, chart map[string]any, commit string) events.DeploymentFinished {
	t.Helper()
	data := deploymentTrigger(project, stage, service, "direct", nil)
	if chart != nil {
		data["deployment"].(map[string]any)["chart"] = chart
	}
	_, finished := e.finished(t, e.triggerAt(t, data, commit), deployTimeout)
	return finished
}

// deployedMessage reads what the chartstest chart deployed as release
// name in namespace: its message value and chart version.
func deployedMessage(t *testing.T, namespace, name string) (message, version string) {
	t.Helper()
	cm, err := suite.clientset.CoreV1().ConfigMaps(namespace).Get(ctx(t), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("configmap %s/%s: %v", namespace, name, err)
	}
	return cm.Data["message"], cm.Data["chartVersion"]
}

func expectDeployed(t *testing.T, data events.DeploymentFinished, namespace, name, message, version string) {
	t.Helper()
	expectSucceeded(t, data)
	if m, v := deployedMessage(t, namespace, name); m != message || v != version {
		t.Errorf("release %s/%s runs chart %s saying %q, want chart %s saying %q", namespace, name, v, m, version, message)
	}
	if !strings.Contains(data.Message, version) {
		t.Errorf("message %q does not name chart version %s", data.Message, version)
	}
}

// pulls are the requests that fetch a manifest or a blob.
func pulls(requests []string) []string {
	var out []string
	for _, r := range requests {
		if strings.HasPrefix(r, "GET ") && (strings.Contains(r, "/manifests/") || strings.Contains(r, "/blobs/")) {
			out = append(out, r)
		}
	}
	return out
}

// TestOCIChartSource deploys from a registry with basic auth: the newest
// tag, a pinned version, the same version again from the cache, a digest,
// a chart the trigger names, and refusals of bad references and wrong
// credentials.
func TestOCIChartSource(t *testing.T) {
	reg := chartstest.StartRegistry(t, chartstest.RegistryOptions{BasicAuth: true})
	project, stage := suite.project("oci"), "dev"
	ns := project + "-" + stage
	reg.Push(t, project+"/carts", chartstest.Chart("carts", "1.0.0", "one"))
	reg.Push(t, project+"/carts", chartstest.Chart("carts", "1.1.0", "two"))
	webDigest := reg.Push(t, "shared/web", chartstest.Chart("web", "0.3.0", "shared web"))

	inst := startInstance(t, map[string]string{
		"CHART_SOURCE": "oci", "CHART_REGISTRY": reg.Host, "CHART_REGISTRY_PLAIN_HTTP": "true",
		"CHART_REGISTRY_USERNAME": reg.Username, "CHART_REGISTRY_PASSWORD": reg.Password,
		"CHART_REF_ALLOWED": reg.Host + "/shared/*",
	})

	expectDeployed(t, inst.deployChart(t, project, stage, "carts", nil, ""), ns, "carts", "two", "1.1.0")
	expectDeployed(t, inst.deployChart(t, project, stage, "carts", map[string]any{"version": "1.0.0"}, ""), ns, "carts", "one", "1.0.0")

	before := reg.Len()
	expectDeployed(t, inst.deployChart(t, project, stage, "carts", map[string]any{"version": "1.0.0"}, ""), ns, "carts", "one", "1.0.0")
	if got := pulls(reg.Since(before)); len(got) != 0 {
		t.Errorf("deploying version 1.0.0 again pulled %v; want it from the cache", got)
	}
	t.Logf("deploying a cached version sent %d requests to the registry: %v", reg.Len()-before, reg.Since(before))

	// A chart named in the trigger, pinned by digest: deployed as the
	// service's release.
	before = reg.Len()
	web := map[string]any{"ref": "oci://" + reg.Host + "/shared/web", "version": webDigest}
	expectDeployed(t, inst.deployChart(t, project, stage, "orders", web, ""), ns, "orders", "shared web", "0.3.0")
	if len(pulls(reg.Since(before))) == 0 {
		t.Error("the named chart was not pulled from the registry")
	}
	before = reg.Len()
	expectDeployed(t, inst.deployChart(t, project, stage, "orders", web, ""), ns, "orders", "shared web", "0.3.0")
	if got := reg.Since(before); len(got) != 0 {
		t.Errorf("a cached chart pinned by digest still sent %v", got)
	}

	expectErrored(t, inst.deployChart(t, project, stage, "carts", map[string]any{"ref": "https://" + reg.Host + "/shared/web"}, ""), "deployment.chart.ref", "oci://")

	// Charts named in a trigger come only from where CHART_REF_ALLOWED
	// says, pinned; a refused one costs the registry no request.
	before = reg.Len()
	expectErrored(t, inst.deployChart(t, project, stage, "carts", map[string]any{"ref": "oci://" + reg.Host + "/private/web", "version": webDigest}, ""),
		"deployment.chart.ref", reg.Host+"/private/web is not allowed by CHART_REF_ALLOWED")
	expectErrored(t, inst.deployChart(t, project, stage, "carts", map[string]any{"ref": "oci://" + reg.Host + "/shared/web"}, ""),
		"deployment.chart.ref", "must pin the chart's version")
	expectErrored(t, suite.deployChart(t, project, "refsoff", "carts", web, ""), "deployment.chart.ref", "charts named in a trigger are off", "CHART_REF_ALLOWED")
	if got := reg.Since(before); len(got) != 0 {
		t.Errorf("refused chart references sent %v to the registry", got)
	}
	expectErrored(t, inst.deployChart(t, project, stage, "carts", map[string]any{"version": "9.9.9"}, ""), "chart not found", project+"/carts:9.9.9")
	if _, v := deployedMessage(t, ns, "carts"); v != "1.0.0" {
		t.Errorf("after refused triggers carts runs chart %s, want 1.0.0 still", v)
	}

	wrong := startInstance(t, map[string]string{
		"CHART_SOURCE": "oci", "CHART_REGISTRY": reg.Host, "CHART_REGISTRY_PLAIN_HTTP": "true",
		"CHART_REGISTRY_USERNAME": reg.Username, "CHART_REGISTRY_PASSWORD": "not-" + reg.Password,
	})
	expectErrored(t, wrong.deployChart(t, project, stage, "carts", nil, ""), "refused the credentials", "CHART_REGISTRY_PASSWORD")
}

// TestGitChartSource deploys two commits of a Keptn-layout repository
// explicitly, goes back to the first from the cache, follows the stage's
// branch without a gitcommitid, and refuses an unknown commit.
func TestGitChartSource(t *testing.T) {
	srv := chartstest.StartGitServer(t)
	project, stage := suite.project("git"), "staging"
	ns := project + "-" + stage
	first := srv.Commit(t, project, stage, chartstest.ChartFiles(t, "carts", chartstest.Chart("carts", "1.0.0", "first"), true))
	second := srv.Commit(t, project, stage, chartstest.ChartFiles(t, "carts", chartstest.Chart("carts", "2.0.0", "second"), false))

	inst := startInstance(t, map[string]string{"CHART_SOURCE": "git", "CHART_GIT_URL": srv.URL + "/{{.Project}}.git", "CHART_GIT_CACHE_DIR": t.TempDir()})

	data := inst.deployChart(t, project, stage, "carts", nil, first)
	expectDeployed(t, data, ns, "carts", "first", "1.0.0")
	if data.Deployment.GitCommit != first {
		t.Errorf("deployment.gitCommit = %q, want %s", data.Deployment.GitCommit, first)
	}
	expectDeployed(t, inst.deployChart(t, project, stage, "carts", nil, second), ns, "carts", "second", "2.0.0")

	before := srv.Len()
	expectDeployed(t, inst.deployChart(t, project, stage, "carts", nil, first), ns, "carts", "first", "1.0.0")
	if got := srv.Since(before); len(got) != 0 {
		t.Errorf("deploying commit %s again sent %v to the git server; want it from the cache", first, got)
	}

	third := srv.Commit(t, project, stage, chartstest.ChartFiles(t, "carts", chartstest.Chart("carts", "3.0.0", "third"), true))
	data = inst.deployChart(t, project, stage, "carts", nil, "")
	expectDeployed(t, data, ns, "carts", "third", "3.0.0")
	if data.Deployment.GitCommit != third {
		t.Errorf("deployment.gitCommit of a branch-head deploy = %q, want the deployed commit %s", data.Deployment.GitCommit, third)
	}

	unknown := strings.Repeat("0f", 20)
	expectErrored(t, inst.deployChart(t, project, stage, "carts", nil, unknown), unknown, "not deploying another commit")
	expectErrored(t, inst.deployChart(t, project, stage, "carts", map[string]any{"version": "1.0.0"}, third), "deployment.chart.version asks for 1.0.0", "3.0.0")
	if m, _ := deployedMessage(t, ns, "carts"); m != "third" {
		t.Errorf("after refused triggers carts says %q, want third still", m)
	}
}
