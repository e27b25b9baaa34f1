package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/helm-service/helm-service/pkg/events"
)

// previewChart is a chart whose values add a ConfigMap (extra), remove
// its Service (service: false), set a Secret's value (password) and give
// its container a field no schema knows (badField).
var previewChart = map[string]string{
	"Chart.yaml":  "apiVersion: v2\nname: pv\nversion: 1.0.0\n",
	"values.yaml": "image: example/pv:1\nservice: true\nextra: false\nbadField: false\npassword: first-secret-value\n",
	"templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: 1
  selector:
    matchLabels:
      app: {{ .Release.Name }}
  template:
    metadata:
      labels:
        app: {{ .Release.Name }}
    spec:
      containers:
        - name: app
          image: {{ .Values.image | quote }}
          {{- if .Values.badField }}
          bogusField: surprise
          {{- end }}
`,
	"templates/service.yaml": `{{- if .Values.service }}
apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
spec:
  selector:
    app: {{ .Release.Name }}
  ports:
    - port: 80
{{- end }}
`,
	"templates/extra.yaml": `{{- if .Values.extra }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-extra
data:
  mode: extra
{{- end }}
`,
	"templates/secret.yaml": `apiVersion: v1
kind: Secret
metadata:
  name: {{ .Release.Name }}-credentials
data:
  password: {{ .Values.password | b64enc }}
  user: {{ "admin" | b64enc }}
`,
}

// dryRunTrigger is a deployment.triggered asking for a preview.
func dryRunTrigger(project, stage, service string, values map[string]any) map[string]any {
	data := deploymentTrigger(project, stage, service, "direct", values)
	data["deployment"].(map[string]any)["dryRun"] = true
	return data
}

// TestPreviewOfAnUpgrade previews an upgrade that adds a ConfigMap,
// changes the image, removes the Service and changes a Secret's value:
// the preview lists exactly those objects, redacts the Secret, and the
// release and the cluster stay as they were. A manifest with a field no
// schema knows is refused by the server's dry run.
func TestPreviewOfAnUpgrade(t *testing.T) {
	project := suite.project("preview")
	writeChart(t, filepath.Join(suite.chartDir, project, "pv"), previewChart)
	ns := project + "-dev"

	_, data := suite.finished(t, suite.trigger(t, suite.nats, deploymentTrigger(project, "dev", "pv", "direct", nil)), deployTimeout)
	expectSucceeded(t, data)

	_, data = suite.finished(t, suite.trigger(t, suite.nats, dryRunTrigger(project, "dev", "pv", map[string]any{
		"image": "example/pv:2", "extra": true, "service": false, "password": "second-secret-value",
	})), deployTimeout)
	expectSucceeded(t, data)
	if data.Deployment == nil || data.Deployment.Preview == nil {
		t.Fatalf("finished of a dry run has no deployment.preview: %+v", data)
	}
	p := data.Deployment.Preview
	type object struct{ Change, Kind, Namespace, Name string }
	var got []object
	diffs := map[string]string{}
	for _, o := range p.Objects {
		got = append(got, object{o.Change, o.Kind, o.Namespace, o.Name})
		diffs[o.Kind] = o.Diff
	}
	want := []object{
		{events.PreviewChanged, "Secret", ns, "pv-credentials"},
		{events.PreviewCreated, "ConfigMap", ns, "pv-extra"},
		{events.PreviewChanged, "Deployment", ns, "pv"},
		{events.PreviewDeleted, "Service", ns, "pv"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("preview objects (-want +got):\n%s", d)
	}
	if !hasDiffLine(diffs["Deployment"], "-", "image: example/pv:1") || !hasDiffLine(diffs["Deployment"], "+", "image: example/pv:2") {
		t.Errorf("diff of the Deployment does not show the image change:\n%s", diffs["Deployment"])
	}
	body := data.Message + diffs["Secret"]
	for _, o := range p.Objects {
		body += o.Diff
	}
	for _, secret := range []string{"first-secret-value", "second-secret-value", "Zmlyc3Qtc2VjcmV0LXZhbHVl", "c2Vjb25kLXNlY3JldC12YWx1ZQ==", "YWRtaW4="} {
		if strings.Contains(body, secret) {
			t.Errorf("preview shows the Secret value %q:\n%s", secret, body)
		}
	}
	if !strings.Contains(diffs["Secret"], "password") {
		t.Errorf("diff of the Secret does not name the changed key password:\n%s", diffs["Secret"])
	}
	if p.Unchanged != 0 {
		t.Errorf("unchanged = %d, want 0", p.Unchanged)
	}

	// Nothing was deployed.
	if r := helmRelease(t, ns, "pv"); r.revision != "1" {
		t.Errorf("release pv is at revision %s after a dry run, want 1", r.revision)
	}
	if img := getDeployment(t, ns, "pv").Spec.Template.Spec.Containers[0].Image; img != "example/pv:1" {
		t.Errorf("image after a dry run = %s, want example/pv:1", img)
	}
	if _, err := suite.clientset.CoreV1().ConfigMaps(ns).Get(ctx(t), "pv-extra", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("ConfigMap pv-extra after a dry run: %v, want not found", err)
	}
	if _, err := suite.clientset.CoreV1().Services(ns).Get(ctx(t), "pv", metav1.GetOptions{}); err != nil {
		t.Errorf("Service pv after a dry run: %v, want it kept", err)
	}
	s, err := suite.clientset.CoreV1().Secrets(ns).Get(ctx(t), "pv-credentials", metav1.GetOptions{})
	if err != nil || string(s.Data["password"]) != "first-secret-value" {
		t.Errorf("Secret pv-credentials after a dry run: %v, password %q", err, s.Data["password"])
	}

	// The server's validation, as on a real deployment.
	_, data = suite.finished(t, suite.trigger(t, suite.nats, dryRunTrigger(project, "dev", "pv", map[string]any{"badField": true})), deployTimeout)
	expectErrored(t, data, "Deployment "+ns+"/pv", "bogusField")
	if r := helmRelease(t, ns, "pv"); r.revision != "1" {
		t.Errorf("release pv is at revision %s after a refused dry run, want 1", r.revision)
	}
}

// TestCLIDiff runs `helm-service diff`: 0 when nothing would change, 1
// with the diff when something would, 2 on an error.
func TestCLIDiff(t *testing.T) {
	project := suite.project("clidiff")
	writeChart(t, filepath.Join(suite.chartDir, project, "pv"), previewChart)
	ns := project + "-dev"
	_, data := suite.finished(t, suite.trigger(t, suite.nats, deploymentTrigger(project, "dev", "pv", "direct", nil)), deployTimeout)
	expectSucceeded(t, data)

	args := []string{"diff", "--nats", suite.natsURL, "--project", project, "--stage", "dev", "--service", "pv"}
	out, errOut, code := cli(t, args...)
	if code != 0 || !strings.Contains(out, "no changes") {
		t.Errorf("diff of the deployed values: exit %d, want 0 and \"no changes\"\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}

	values := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(values, []byte("extra: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = cli(t, append(args, "--image", "example/pv:3", "--values", values)...)
	if code != 1 {
		t.Errorf("diff of a new image: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{"changed Deployment " + ns + "/pv", "created ConfigMap " + ns + "/pv-extra"} {
		if !strings.Contains(out, want) {
			t.Errorf("diff output lacks %q:\n%s", want, out)
		}
	}
	if !hasDiffLine(out, "-", "image: example/pv:1") || !hasDiffLine(out, "+", "image: example/pv:3") {
		t.Errorf("diff output does not show the image change:\n%s", out)
	}
	if strings.Contains(out, "\033[") {
		t.Errorf("diff output off a terminal is colored:\n%q", out)
	}
	if img := getDeployment(t, ns, "pv").Spec.Template.Spec.Containers[0].Image; img != "example/pv:1" {
		t.Errorf("image after diff = %s, want example/pv:1", img)
	}

	out, errOut, code = cli(t, "diff", "--nats", suite.natsURL, "--project", project, "--stage", "dev", "--service", "nochart")
	if code != 2 || !strings.Contains(errOut, `chart not found for service "nochart"`) {
		t.Errorf("diff of a service without chart: exit %d, want 2 and the reason\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	_, errOut, code = cli(t, "diff", "--project", project)
	if code != 2 {
		t.Errorf("diff without --stage and --service: exit %d (%s), want 2", code, errOut)
	}
}

// hasDiffLine reports whether a line of a unified diff starts with sign
// and contains text.
func hasDiffLine(diff, sign, text string) bool {
	for _, l := range strings.Split(diff, "\n") {
		if strings.HasPrefix(l, sign) && !strings.HasPrefix(l, sign+sign+sign) && strings.Contains(l, text) {
			return true
		}
	}
	return false
}

// TestPreviewOfABlueGreenCanary previews a new image of a blue/green
// service: the preview is of its canary, and changes nothing.
func TestPreviewOfABlueGreenCanary(t *testing.T) {
	project := suite.project("previewbg")
	writeChart(t, filepath.Join(suite.chartDir, project, "pv"), previewChart)
	ns := project + "-prod"
	_, data := suite.finished(t, suite.trigger(t, suite.nats, deploymentTrigger(project, "prod", "pv", "blue_green_service", nil)), deployTimeout)
	expectSucceeded(t, data)

	dry := deploymentTrigger(project, "prod", "pv", "blue_green_service", map[string]any{"image": "example/pv:2"})
	dry["deployment"].(map[string]any)["dryRun"] = true
	_, data = suite.finished(t, suite.trigger(t, suite.nats, dry), deployTimeout)
	expectSucceeded(t, data)
	if data.Deployment == nil || data.Deployment.Preview == nil {
		t.Fatalf("finished of a dry run has no deployment.preview: %+v", data)
	}
	if data.Deployment.ReleaseName != "pv-canary" {
		t.Errorf("releaseName = %q, want pv-canary", data.Deployment.ReleaseName)
	}
	var got []string
	for _, o := range data.Deployment.Preview.Objects {
		got = append(got, o.Change+" "+o.Kind+" "+o.Namespace+"/"+o.Name)
		if o.Kind == "Deployment" && (!hasDiffLine(o.Diff, "-", "image: example/pv:1") || !hasDiffLine(o.Diff, "+", "image: example/pv:2")) {
			t.Errorf("diff of the canary does not show the image change:\n%s", o.Diff)
		}
	}
	if d := cmp.Diff([]string{"changed Deployment " + ns + "/pv-canary"}, got); d != "" {
		t.Errorf("preview objects (-want +got):\n%s", d)
	}
	for _, name := range []string{"pv-primary", "pv-canary"} {
		if r := helmRelease(t, ns, name); r.revision != "1" {
			t.Errorf("release %s is at revision %s after a dry run, want 1", name, r.revision)
		}
		if img := getDeployment(t, ns, name).Spec.Template.Spec.Containers[0].Image; img != "example/pv:1" {
			t.Errorf("image of %s after a dry run = %s, want example/pv:1", name, img)
		}
	}
}

// TestPreviewOfAPromotionAndARollback previews a release of a blue/green
// service whose canary runs a new image: promotion would give the primary
// that image, route all traffic to it and scale the canary to zero;
// rollback only the latter two. Nothing changes. A direct service's
// release is not previewed and says so.
func TestPreviewOfAPromotionAndARollback(t *testing.T) {
	project := suite.project("previewrel")
	writeChart(t, filepath.Join(suite.chartDir, project, "pv"), previewChart)
	ns := project + "-prod"
	suite.deployBlueGreen(t, project, "prod", "pv", nil)
	suite.deployBlueGreen(t, project, "prod", "pv", map[string]any{"image": "example/pv:2"})

	dryRelease := func(result string) lifecycleFinished {
		data := lifecycleTrigger(project, "prod", "pv", result)
		data["deployment"] = map[string]any{"dryRun": true, "deploymentURIsLocal": []string{}, "deploymentURIsPublic": []string{}}
		out, _ := suite.runTask(t, events.TaskRelease, data)
		if out.Release == nil || out.Release.Preview == nil || !out.Release.DryRun {
			t.Fatalf("release.finished of a dry run has no release.preview: %+v", out)
		}
		return out
	}
	objects := func(p *events.Preview) []string {
		var got []string
		for _, o := range p.Objects {
			got = append(got, o.Change+" "+o.Kind+" "+o.Namespace+"/"+o.Name)
		}
		return got
	}
	routing := []string{"changed TrafficSplit " + ns + "/pv", "changed Deployment " + ns + "/pv-canary"}

	promotion := dryRelease(events.ResultPass)
	if d := cmp.Diff(append([]string{"changed Deployment " + ns + "/pv-primary"}, routing...), objects(promotion.Release.Preview)); d != "" {
		t.Errorf("promotion preview objects (-want +got):\n%s", d)
	}
	if p := promotion.Release.Preview; len(p.Objects) == 3 {
		if !hasDiffLine(p.Objects[0].Diff, "-", "image: example/pv:1") || !hasDiffLine(p.Objects[0].Diff, "+", "image: example/pv:2") {
			t.Errorf("diff of the primary does not show the image change:\n%s", p.Objects[0].Diff)
		}
		if !hasDiffLine(p.Objects[1].Diff, "+", "primary 100%, canary 0%") || !hasDiffLine(p.Objects[2].Diff, "+", "spec.replicas: 0") {
			t.Errorf("diffs of routing and the canary:\n%s\n%s", p.Objects[1].Diff, p.Objects[2].Diff)
		}
	}
	rollback := dryRelease(events.ResultFail)
	if d := cmp.Diff(routing, objects(rollback.Release.Preview)); d != "" {
		t.Errorf("rollback preview objects (-want +got):\n%s", d)
	}

	for name, want := range map[string]string{"pv-primary": "1", "pv-canary": "2"} {
		if r := helmRelease(t, ns, name); r.revision != want {
			t.Errorf("release %s is at revision %s after dry runs, want %s", name, r.revision, want)
		}
	}
	if img := image(t, ns, "pv-primary"); img != "example/pv:1" {
		t.Errorf("primary image after dry runs = %s, want example/pv:1", img)
	}
	if n := replicas(t, ns, "pv-canary"); n != 1 {
		t.Errorf("canary replicas after dry runs = %d, want 1", n)
	}

	direct := suite.project("previewreldirect")
	writeChart(t, filepath.Join(suite.chartDir, direct, "pv"), previewChart)
	_, data := suite.finished(t, suite.trigger(t, suite.nats, deploymentTrigger(direct, "dev", "pv", "direct", nil)), deployTimeout)
	expectSucceeded(t, data)
	trig := lifecycleTrigger(direct, "dev", "pv", events.ResultPass)
	trig["deployment"] = map[string]any{"dryRun": true}
	out := suite.taskFinished(t, events.TaskRelease, suite.triggerTask(t, events.TaskRelease, trig))
	if out.Status != events.StatusErrored || !strings.Contains(out.Message, "field deployment.dryRun") || !strings.Contains(out.Message, "direct service") {
		t.Errorf("dry run of a direct service's release: %s/%s %q, want errored naming the field", out.Status, out.Result, out.Message)
	}
}

// TestPreviewIsCutToTheEventLimit previews a change of a ConfigMap whose
// diff is larger than MAX_EVENT_BYTES allows: the .finished stays within
// the limit and says how much was left out.
func TestPreviewIsCutToTheEventLimit(t *testing.T) {
	const limit = 32 << 10
	charts := t.TempDir()
	project := suite.project("previewcut")
	writeChart(t, filepath.Join(charts, project, "big"), map[string]string{
		"Chart.yaml":  "apiVersion: v2\nname: big\nversion: 1.0.0\n",
		"values.yaml": "word: first\n",
		"templates/configmap.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-data
data:
{{- range until 3000 }}
  key{{ . }}: {{ $.Values.word | quote }}
{{- end }}
`,
	})
	inst := startInstance(t, map[string]string{"CHART_DIR": charts, "MAX_EVENT_BYTES": strconv.Itoa(limit)})
	_, data := inst.finished(t, inst.trigger(t, inst.nats, deploymentTrigger(project, "dev", "big", "direct", nil)), deployTimeout)
	expectSucceeded(t, data)

	ev, data := inst.finished(t, inst.trigger(t, inst.nats, dryRunTrigger(project, "dev", "big", map[string]any{"word": "second"})), deployTimeout)
	expectSucceeded(t, data)
	body, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(body) > limit {
		t.Errorf(".finished is %d bytes, more than MAX_EVENT_BYTES %d", len(body), limit)
	}
	p := data.Deployment.Preview
	if p == nil || len(p.Objects) != 1 || p.Objects[0].Name != "big-data" || !strings.Contains(p.Objects[0].Diff, "-  key0: first\n") || !strings.HasSuffix(p.Objects[0].Diff, "\n") {
		t.Fatalf("preview = %+v, want the ConfigMap with the start of its diff", p)
	}
	if !strings.Contains(p.Truncated, "1 diffs cut or left out") || !strings.Contains(data.Message, "preview cut to fit the event size limit") {
		t.Errorf("truncated = %q, message = %q: want both to say what was left out", p.Truncated, data.Message)
	}
}
