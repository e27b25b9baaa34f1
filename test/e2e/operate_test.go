package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// freeAddr returns a local address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func httpGet(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, body
}

// scrape reads the service's /metrics as Prometheus does.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := httpGet(t, "http://"+addr+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", code, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, body)
	}
	return families
}

// sample returns the series of a family with the given labels.
func sample(t *testing.T, families map[string]*dto.MetricFamily, name string, labels map[string]string) *dto.Metric {
	t.Helper()
	f, ok := families[name]
	if !ok {
		t.Fatalf("/metrics has no %s", name)
	}
series:
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			if want, ok := labels[l.GetName()]; ok && want != l.GetValue() {
				continue series
			}
		}
		return m
	}
	t.Fatalf("/metrics has no %s%v", name, labels)
	return nil
}

func TestMetricsAfterADeploymentAndPprofOnTheDebugPort(t *testing.T) {
	httpAddr, debugAddr := freeAddr(t), freeAddr(t)
	inst := startInstance(t, map[string]string{"HTTP_ADDR": httpAddr, "DEBUG_ADDR": debugAddr})
	project := inst.project("metrics")

	id := inst.trigger(t, inst.nats, deploymentTrigger(project, "dev", "carts", "direct", map[string]any{"image": "example/carts:m1", "replicaCount": 1}))
	_, data := inst.finished(t, id, deployTimeout)
	expectSucceeded(t, data)
	bad := inst.trigger(t, inst.nats, deploymentTrigger(project, "dev", "Not_A_Name", "direct", nil))
	inst.finished(t, bad, time.Minute)

	m := scrape(t, httpAddr)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"helm_service_tasks_total", map[string]string{"task": "deployment", "result": "pass"}, 1},
		{"helm_service_tasks_total", map[string]string{"task": "deployment", "result": "errored"}, 1},
		{"helm_service_events_received_total", map[string]string{"type": "sh.keptn.event.deployment.triggered"}, 2},
	} {
		if got := sample(t, m, c.name, c.labels).GetCounter().GetValue(); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if got := sample(t, m, "helm_service_nats_connected", nil).GetGauge().GetValue(); got != 1 {
		t.Errorf("helm_service_nats_connected = %v, want 1", got)
	}
	if got := sample(t, m, "helm_service_queue_depth", nil).GetGauge().GetValue(); got != 0 {
		t.Errorf("helm_service_queue_depth = %v after every task answered, want 0", got)
	}
	if n := sample(t, m, "helm_service_task_duration_seconds", map[string]string{"task": "deployment"}).GetHistogram().GetSampleCount(); n != 2 {
		t.Errorf("task duration count = %d, want 2", n)
	}
	install := sample(t, m, "helm_service_helm_action_duration_seconds", map[string]string{"action": "install"}).GetHistogram()
	if install.GetSampleCount() != 1 || install.GetSampleSum() <= 0 {
		t.Errorf("install duration: count %d sum %v, want 1 install taking some time", install.GetSampleCount(), install.GetSampleSum())
	}
	if n := sample(t, m, "helm_service_helm_action_duration_seconds", map[string]string{"action": "wait"}).GetHistogram().GetSampleCount(); n < 1 {
		t.Errorf("wait duration count = %d, want at least 1", n)
	}
	if got := sample(t, m, "process_resident_memory_bytes", nil).GetGauge().GetValue(); got <= 0 {
		t.Errorf("process_resident_memory_bytes = %v", got)
	}
	sample(t, m, "go_goroutines", nil)

	code, heap := httpGet(t, "http://"+debugAddr+"/debug/pprof/heap")
	if code != http.StatusOK || len(heap) < 2 || heap[0] != 0x1f || heap[1] != 0x8b {
		t.Errorf("GET DEBUG_ADDR/debug/pprof/heap: %d, %d bytes; want 200 and a gzipped profile", code, len(heap))
	}
	if code, _ := httpGet(t, "http://"+httpAddr+"/debug/pprof/heap"); code != http.StatusNotFound {
		t.Errorf("GET HTTP_ADDR/debug/pprof/heap: %d, want 404: profiles are never on the public port", code)
	}
}

// statusCLI runs `helm-service status ARGS…` against the suite's cluster.
func statusCLI(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.CommandContext(ctx(t), suite.binary, append([]string{"status"}, args...)...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}, env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("run status %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

// statusJSON is the part of `status -o json` the test reads.
type statusJSON struct {
	Project   string `json:"project"`
	Stage     string `json:"stage"`
	Service   string `json:"service"`
	Namespace string `json:"namespace"`
	Strategy  string `json:"strategy"`
	Releases  []struct {
		Name       string    `json:"name"`
		Deployment string    `json:"deployment"`
		Revision   int       `json:"revision"`
		Status     string    `json:"status"`
		Chart      string    `json:"chart"`
		Images     []string  `json:"images"`
		Updated    time.Time `json:"updated"`
	} `json:"releases"`
	Traffic *struct {
		Router  string `json:"router"`
		Primary int    `json:"primary"`
		Canary  int    `json:"canary"`
	} `json:"traffic"`
}

func TestCLIStatus(t *testing.T) {
	project := suite.project("status")
	start := time.Now().Add(-time.Minute)
	for _, image := range []string{"example/carts:d1", "example/carts:d2"} {
		id := suite.trigger(t, suite.nats, deploymentTrigger(project, "direct", "carts", "direct", map[string]any{"image": image, "replicaCount": 1}))
		_, data := suite.finished(t, id, deployTimeout)
		expectSucceeded(t, data)
	}
	suite.deployBlueGreen(t, project, "bg", "carts", map[string]any{"image": "example/carts:bg1", "replicaCount": 1})
	suite.deployBlueGreen(t, project, "bg", "carts", map[string]any{"image": "example/carts:bg2", "replicaCount": 1})

	kubeconfig := "KUBECONFIG=" + suite.kubeconfig
	out, errOut, code := statusCLI(t, []string{kubeconfig}, "--project", project, "-o", "json")
	if code != 0 {
		t.Fatalf("status -o json exited %d: %s", code, errOut)
	}
	var got []statusJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, out)
	}
	if len(got) != 2 {
		t.Fatalf("status listed %d services, want 2:\n%s", len(got), out)
	}
	bg, direct := got[0], got[1] // sorted by namespace: <project>-bg, <project>-direct
	if direct.Namespace != project+"-direct" || direct.Strategy != "direct" || direct.Service != "carts" || direct.Stage != "direct" || direct.Traffic != nil {
		t.Errorf("direct service = %+v", direct)
	}
	if len(direct.Releases) != 1 {
		t.Fatalf("direct service releases = %+v", direct.Releases)
	}
	r := direct.Releases[0]
	if r.Name != "carts" || r.Deployment != "direct" || r.Revision != 2 || r.Status != "deployed" || r.Chart != "carts" ||
		strings.Join(r.Images, ",") != "example/carts:d2" || r.Updated.Before(start) {
		t.Errorf("direct release = %+v, want carts revision 2 deployed running example/carts:d2", r)
	}

	if bg.Namespace != project+"-bg" || bg.Strategy != "blue_green_service" || len(bg.Releases) != 2 {
		t.Fatalf("blue/green service = %+v", bg)
	}
	canary, primary := bg.Releases[0], bg.Releases[1] // sorted by name
	if canary.Name != "carts-canary" || canary.Deployment != "canary" || canary.Revision != 2 || canary.Status != "deployed" || strings.Join(canary.Images, ",") != "example/carts:bg2" {
		t.Errorf("canary = %+v, want carts-canary revision 2 running example/carts:bg2", canary)
	}
	if primary.Name != "carts-primary" || primary.Deployment != "primary" || primary.Revision != 1 || strings.Join(primary.Images, ",") != "example/carts:bg1" {
		t.Errorf("primary = %+v, want carts-primary revision 1 running example/carts:bg1", primary)
	}
	if bg.Traffic == nil || bg.Traffic.Router != "service" || bg.Traffic.Primary != 0 || bg.Traffic.Canary != 100 {
		t.Errorf("traffic = %+v, want all on the canary through the stable Service (ROUTE_MODE canary)", bg.Traffic)
	}

	out, errOut, code = statusCLI(t, []string{kubeconfig}, "--project", project, "--stage", "bg")
	if code != 0 {
		t.Fatalf("status exited %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAMESPACE") {
		t.Fatalf("status table: want a header and the two blue/green releases:\n%s", out)
	}
	for i, want := range [][]string{
		{project + "-bg", "carts-canary", "example/carts:bg2", "100% (service)"},
		{project + "-bg", "carts-primary", "example/carts:bg1", "0% (service)"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i+1], w) {
				t.Errorf("table line %q lacks %q", lines[i+1], w)
			}
		}
	}

	if _, errOut, code := statusCLI(t, []string{kubeconfig}, "-o", "yaml"); code != 2 {
		t.Errorf("status -o yaml: exit %d (%s), want 2", code, errOut)
	}
	if _, errOut, code := statusCLI(t, []string{kubeconfig}, "--no-such-flag"); code != 2 {
		t.Errorf("status with an unknown flag: exit %d (%s), want 2", code, errOut)
	}
	if _, errOut, code := statusCLI(t, []string{"KUBECONFIG="}); code != 1 || !strings.Contains(errOut, "no Kubernetes cluster configured") {
		t.Errorf("status without a cluster: exit %d (%s), want 1 and the reason", code, errOut)
	}
}
