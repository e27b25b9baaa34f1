package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/kube"
)

// publish sends an event of any type with the given data and returns its id.
func (e *env) publish(t *testing.T, eventType string, data any) string {
	t.Helper()
	return send(t, e.nats, newEvent(t, eventType, data))
}

func actionTrigger(project, stage, service string, action string, value any) map[string]any {
	a := map[string]any{"name": "remediate", "action": action, "description": "e2e"}
	if value != nil {
		a["value"] = value
	}
	return map[string]any{
		"project": project, "stage": stage, "service": service, "action": a,
		"problem": map[string]any{"problemTitle": "Response time degradation"},
	}
}

// scale triggers a scaling action and returns its .finished data after
// checking that .started came first; it also returns how long it took.
func (e *env) scale(t *testing.T, project, stage, service string, value any) (events.ActionFinished, time.Duration) {
	t.Helper()
	start := time.Now()
	id := e.publish(t, events.Type(events.TaskAction, events.PhaseTriggered), actionTrigger(project, stage, service, events.ActionScaling, value))
	answers := e.answers.await(t, id, deployTimeout)
	took := time.Since(start)
	if len(answers) != 2 || answers[0].Type() != "sh.keptn.event.action.started" || answers[1].Type() != "sh.keptn.event.action.finished" {
		t.Fatalf("answers to the scaling action: %d, want action .started and .finished", len(answers))
	}
	var data events.ActionFinished
	if err := json.Unmarshal(answers[1].Data(), &data); err != nil {
		t.Fatalf("finished data %s: %v", answers[1].Data(), err)
	}
	return data, took
}

// scaleOK scales and requires success with one workload going from to.
func (e *env) scaleOK(t *testing.T, project, stage, service string, value any, workload string, from, to int32) {
	t.Helper()
	data, took := e.scale(t, project, stage, service, value)
	if data.Status != events.StatusSucceeded || data.Result != events.ResultPass {
		t.Fatalf("scaling by %v finished %s/%s: %s", value, data.Status, data.Result, data.Message)
	}
	want := fmt.Sprintf("from %d to %d", from, to)
	if data.Scaling == nil || len(data.Scaling.Workloads) != 1 || data.Scaling.Workloads[0] != (events.WorkloadScaling{Kind: "Deployment", Name: workload, From: from, To: to}) || !strings.Contains(data.Message, want) {
		t.Fatalf("scaling by %v: data %+v message %q, want %s %s", value, data.Scaling, data.Message, workload, want)
	}
	ns := project + "-" + stage
	d := getDeployment(t, ns, workload)
	if *d.Spec.Replicas != to || d.Status.ReadyReplicas != to || d.Status.Replicas != to {
		t.Fatalf("after scaling by %v: %s wants %d, runs %d, %d ready; want %d", value, workload, *d.Spec.Replicas, d.Status.Replicas, d.Status.ReadyReplicas, to)
	}
	t.Logf("scaled %s by %v from %d to %d replicas, all ready, in %s", workload, value, from, to, took.Round(time.Millisecond))
}

// TestScaleDirect scales a direct service up, down, to the floor and back,
// then redeploys it and sees the scaled count kept; bad values and actions
// that are not helm-service's change nothing.
func TestScaleDirect(t *testing.T) {
	project, stage := suite.project("scale"), "production"
	ns := project + "-" + stage
	_, data := suite.finished(t, suite.trigger(t, suite.nats, deploymentTrigger(project, stage, "carts", "direct", nil)), deployTimeout)
	expectSucceeded(t, data)

	suite.scaleOK(t, project, stage, "carts", "+2", "carts", 2, 4)
	suite.scaleOK(t, project, stage, "carts", -1, "carts", 4, 3)
	suite.scaleOK(t, project, stage, "carts", "-10", "carts", 3, 0)
	suite.scaleOK(t, project, stage, "carts", "1", "carts", 0, 1)
	suite.scaleOK(t, project, stage, "carts", 2, "carts", 1, 3)

	t.Run("bad values", func(t *testing.T) {
		for _, value := range []any{"abc", 1.5, "1.5", nil, map[string]any{"replicas": 1}} {
			data, _ := suite.scale(t, project, stage, "carts", value)
			if data.Status != events.StatusErrored || data.Result != events.ResultFail || !strings.Contains(data.Message, "action.value") {
				t.Errorf("value %v: finished %s/%s %q, want errored naming action.value", value, data.Status, data.Result, data.Message)
			}
		}
		if got := replicas(t, ns, "carts"); got != 3 {
			t.Errorf("replicas after bad values = %d, want 3", got)
		}
	})

	t.Run("other actions are not answered", func(t *testing.T) {
		other := suite.publish(t, events.Type(events.TaskAction, events.PhaseTriggered), actionTrigger(project, stage, "carts", "toggle-feature", "1"))
		// A scaling action sent after it is answered; by then the other
		// action has long been seen.
		suite.scaleOK(t, project, stage, "carts", 0, "carts", 3, 3)
		time.Sleep(time.Second)
		suite.answers.mu.Lock()
		got := len(suite.answers.byID[other])
		suite.answers.mu.Unlock()
		if got != 0 {
			t.Errorf("an action that is not scaling got %d answers, want none", got)
		}
	})

	t.Run("redeploy keeps the scaled count", func(t *testing.T) {
		_, data := suite.finished(t, suite.trigger(t, suite.nats, deploymentTrigger(project, stage, "carts", "direct", map[string]any{"image": "example/carts:2"})), deployTimeout)
		expectSucceeded(t, data)
		d := getDeployment(t, ns, "carts")
		if d.Spec.Template.Spec.Containers[0].Image != "example/carts:2" {
			t.Fatalf("redeploy did not roll out the new image: %s", d.Spec.Template.Spec.Containers[0].Image)
		}
		if *d.Spec.Replicas != 3 || d.Status.ReadyReplicas != 3 || d.Annotations[kube.AnnotationReplicas] != "3" {
			t.Errorf("after redeploy: %d replicas, %d ready, annotation %q; want the scaled 3 kept", *d.Spec.Replicas, d.Status.ReadyReplicas, d.Annotations[kube.AnnotationReplicas])
		}
	})
}

// TestScaleBlueGreenPrimary scales the primary of a blue/green service,
// leaves the canary alone while it receives no traffic, and keeps the
// count when a canary is promoted.
func TestScaleBlueGreenPrimary(t *testing.T) {
	project, stage := suite.project("scalebg"), "production"
	ns := project + "-" + stage
	suite.deployBlueGreen(t, project, stage, "carts", nil)
	// Promoted, the canary gets no traffic and no replicas.
	suite.runTask(t, "release", lifecycleTrigger(project, stage, "carts", "pass"))
	suite.scaleOK(t, project, stage, "carts", "+1", "carts-primary", 2, 3)
	if got := replicas(t, ns, "carts-canary"); got != 0 {
		t.Errorf("canary replicas = %d, want 0 (untouched)", got)
	}

	suite.deployBlueGreen(t, project, stage, "carts", map[string]any{"image": "example/carts:2"})
	suite.runTask(t, "release", lifecycleTrigger(project, stage, "carts", "pass"))
	d := getDeployment(t, ns, "carts-primary")
	if d.Spec.Template.Spec.Containers[0].Image != "example/carts:2" {
		t.Fatalf("primary not promoted: runs %s", d.Spec.Template.Spec.Containers[0].Image)
	}
	if *d.Spec.Replicas != 3 || d.Status.ReadyReplicas != 3 {
		t.Errorf("promoted primary: %d replicas, %d ready; want the scaled 3 kept", *d.Spec.Replicas, d.Status.ReadyReplicas)
	}
}

// awaitReplicas waits until a Deployment runs replicas, all ready.
func awaitReplicas(t *testing.T, ns, name string, want int32) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		d := getDeployment(t, ns, name)
		if *d.Spec.Replicas == want && d.Status.Replicas == want && d.Status.ReadyReplicas == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/%s wants %d, runs %d, %d ready; want %d within a minute", ns, name, *d.Spec.Replicas, d.Status.Replicas, d.Status.ReadyReplicas, want)
		}
	}
}

// TestScaleNeverPastMaxReplicas: with MAX_REPLICAS=3 an increment stops at
// 3 and says so, one more is refused, and a positive increment never
// lowers a workload that runs more than MAX_REPLICAS (set outside
// helm-service); a negative one lowers it by just the increment.
func TestScaleNeverPastMaxReplicas(t *testing.T) {
	inst := startInstance(t, map[string]string{"MAX_REPLICAS": "3"})
	project, stage := suite.project("scalemax"), "production"
	ns := project + "-" + stage
	_, data := inst.finished(t, inst.trigger(t, inst.nats, deploymentTrigger(project, stage, "carts", "direct", nil)), deployTimeout)
	expectSucceeded(t, data)

	out, _ := inst.scale(t, project, stage, "carts", "+2")
	if out.Status != events.StatusSucceeded || !strings.Contains(out.Message, "from 2 to 3 (capped at MAX_REPLICAS 3; +2 asked for 4)") {
		t.Errorf("+2 from 2: finished %s %q, want 3, capped", out.Status, out.Message)
	}
	awaitReplicas(t, ns, "carts", 3)
	refused := func(value string, current int32) {
		t.Helper()
		out, _ := inst.scale(t, project, stage, "carts", value)
		want := fmt.Sprintf("it runs %d replicas, MAX_REPLICAS is 3, and scaling by %s asks for %d", current, value, current+1)
		if out.Status != events.StatusErrored || !strings.Contains(out.Message, want) {
			t.Errorf("%s at %d replicas: finished %s %q, want errored saying %q", value, current, out.Status, out.Message, want)
		}
		if got := replicas(t, ns, "carts"); got != current {
			t.Errorf("%s at %d replicas left %d, want %d", value, current, got, current)
		}
	}
	refused("+1", 3)

	// Someone runs 5, above the limit.
	sc, err := suite.clientset.AppsV1().Deployments(ns).GetScale(ctx(t), "carts", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sc.Spec.Replicas = 5
	if _, err := suite.clientset.AppsV1().Deployments(ns).UpdateScale(ctx(t), "carts", sc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	awaitReplicas(t, ns, "carts", 5)
	refused("+1", 5)
	out, _ = inst.scale(t, project, stage, "carts", "-1")
	if out.Status != events.StatusSucceeded || !strings.Contains(out.Message, "from 5 to 4") {
		t.Errorf("-1 from 5: finished %s %q, want 4", out.Status, out.Message)
	}
	awaitReplicas(t, ns, "carts", 4)
}

// TestScaleLiveCanary: with ROUTE_MODE=canary a canary that receives the
// traffic is scaled, and so is the primary, which serves it again after a
// promotion; once promoted the primary keeps the count and the canary,
// with no traffic, is left alone.
func TestScaleLiveCanary(t *testing.T) {
	project, stage := suite.project("scalelive"), "production"
	ns := project + "-" + stage
	suite.deployBlueGreen(t, project, stage, "carts", nil)
	if side := routedTo(t, ns, "carts", "carts"); side != "canary" {
		t.Fatalf("the stable Service routes to %q, want the canary", side)
	}
	data, _ := suite.scale(t, project, stage, "carts", "+1")
	want := []events.WorkloadScaling{{Kind: "Deployment", Name: "carts-canary", From: 2, To: 3}, {Kind: "Deployment", Name: "carts-primary", From: 2, To: 3}}
	if data.Status != events.StatusSucceeded || data.Scaling == nil || !slices.Equal(data.Scaling.Workloads, want) || data.Scaling.ReleaseName != "carts-canary" {
		t.Fatalf("scaling with a live canary: finished %s %q, scaling %+v; want %v", data.Status, data.Message, data.Scaling, want)
	}
	if !strings.Contains(data.Message, "canary "+ns+"/carts-canary receives traffic") {
		t.Errorf("message %q does not say why the canary was scaled", data.Message)
	}
	for _, name := range []string{"carts-canary", "carts-primary"} {
		d := getDeployment(t, ns, name)
		if *d.Spec.Replicas != 3 || d.Status.ReadyReplicas != 3 || d.Annotations[kube.AnnotationReplicas] != "3" {
			t.Errorf("%s: %d replicas, %d ready, annotation %q; want 3, 3, 3", name, *d.Spec.Replicas, d.Status.ReadyReplicas, d.Annotations[kube.AnnotationReplicas])
		}
	}

	suite.runTask(t, "release", lifecycleTrigger(project, stage, "carts", "pass"))
	awaitReplicas(t, ns, "carts-primary", 3)
	suite.scaleOK(t, project, stage, "carts", "+1", "carts-primary", 3, 4)
	if got := replicas(t, ns, "carts-canary"); got != 0 {
		t.Errorf("canary without traffic has %d replicas after scaling, want 0", got)
	}
}

// TestScaleKeptCountDroppedForAutoscaler: a count kept from a scaling is
// not applied once a HorizontalPodAutoscaler targets the workload; the
// next deployment removes it and says so, the one after has nothing to say.
func TestScaleKeptCountDroppedForAutoscaler(t *testing.T) {
	project, stage := suite.project("scalekeephpa"), "production"
	ns := project + "-" + stage
	_, data := suite.finished(t, suite.trigger(t, suite.nats, deploymentTrigger(project, stage, "carts", "direct", nil)), deployTimeout)
	expectSucceeded(t, data)
	suite.scaleOK(t, project, stage, "carts", "+1", "carts", 2, 3)
	createAutoscaler(t, ns, "carts-hpa", "carts")

	_, data = suite.finished(t, suite.trigger(t, suite.nats, deploymentTrigger(project, stage, "carts", "direct", map[string]any{"image": "example/carts:2"})), deployTimeout)
	expectSucceeded(t, data)
	want := "dropped the replica count kept from a scaling on deployment " + ns + "/carts (3): HorizontalPodAutoscaler " + ns + "/carts-hpa now targets it"
	if !strings.Contains(data.Message, want) {
		t.Errorf("message %q does not say %q", data.Message, want)
	}
	d := getDeployment(t, ns, "carts")
	if _, ok := d.Annotations[kube.AnnotationReplicas]; ok || *d.Spec.Replicas != 2 {
		t.Errorf("after the deployment: annotations %v, %d replicas; want no kept count and the chart's 2", d.Annotations, *d.Spec.Replicas)
	}

	_, data = suite.finished(t, suite.trigger(t, suite.nats, deploymentTrigger(project, stage, "carts", "direct", map[string]any{"image": "example/carts:3"})), deployTimeout)
	expectSucceeded(t, data)
	if strings.Contains(data.Message, "dropped") {
		t.Errorf("the next deployment says again %q", data.Message)
	}
}

// elsewhereChart deploys one Deployment in the release's namespace and one
// in the namespace .Values.elsewhere.
var elsewhereChart = map[string]string{
	"Chart.yaml":  "apiVersion: v2\nname: elsewhere\nversion: 0.1.0\n",
	"values.yaml": "elsewhere: default\n",
	"templates/deployments.yaml": `{{- range $i, $ns := list "" .Values.elsewhere }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $.Release.Name }}{{ if $ns }}-elsewhere{{ end }}
  {{- with $ns }}
  namespace: {{ . }}
  {{- end }}
spec:
  replicas: 2
  selector:
    matchLabels:
      app.kubernetes.io/instance: {{ $.Release.Name }}{{ if $ns }}-elsewhere{{ end }}
  template:
    metadata:
      labels:
        app.kubernetes.io/instance: {{ $.Release.Name }}{{ if $ns }}-elsewhere{{ end }}
    spec:
      containers:
        - name: web
          image: example/web:1
{{- end }}
`,
}

// TestScaleOnlyTheReleasesNamespace: a release whose manifest puts a
// workload in another namespace is scaled in its own namespace only.
// helm-service refuses to deploy such a chart, so the release is
// installed as the helm CLI would, with helm-service's labels.
func TestScaleOnlyTheReleasesNamespace(t *testing.T) {
	project, stage := suite.project("scalens"), "production"
	other := project + "-other"
	if _, err := suite.clientset.CoreV1().Namespaces().Create(ctx(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: other}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(suite.chartDir, project, "web")
	writeChart(t, dir, elsewhereChart)
	ns := serviceNamespace(t, project, stage)
	installWithHelm(t, ns, "web", dir, map[string]any{"elsewhere": other},
		map[string]string{kube.LabelProject: project, kube.LabelStage: stage, kube.LabelService: "web"})
	awaitReplicas(t, other, "web-elsewhere", 2)

	suite.scaleOK(t, project, stage, "web", "+1", "web", 2, 3)
	d := getDeployment(t, other, "web-elsewhere")
	if *d.Spec.Replicas != 2 || d.Annotations[kube.AnnotationReplicas] != "" {
		t.Errorf("the Deployment in %s was changed: %d replicas, annotation %q; want 2 and none", other, *d.Spec.Replicas, d.Annotations[kube.AnnotationReplicas])
	}
	out, _ := suite.scale(t, project, stage, "web", "+1")
	if !strings.Contains(out.Message, "not scaled: deployment "+other+"/web-elsewhere") {
		t.Errorf("message %q does not name the workload left alone", out.Message)
	}
}

// TestScaleRefusesAutoscaledWorkload: a workload a HorizontalPodAutoscaler
// manages is not scaled; the answer names the autoscaler.
func TestScaleRefusesAutoscaledWorkload(t *testing.T) {
	project, stage := suite.project("scalehpa"), "production"
	ns := project + "-" + stage
	_, data := suite.finished(t, suite.trigger(t, suite.nats, deploymentTrigger(project, stage, "carts", "direct", nil)), deployTimeout)
	expectSucceeded(t, data)
	createAutoscaler(t, ns, "carts-autoscaler", "carts")
	out, _ := suite.scale(t, project, stage, "carts", "+2")
	if out.Status != events.StatusErrored || !strings.Contains(out.Message, "HorizontalPodAutoscaler "+ns+"/carts-autoscaler") {
		t.Errorf("finished %s: %q, want errored naming the autoscaler", out.Status, out.Message)
	}
	d := getDeployment(t, ns, "carts")
	if *d.Spec.Replicas != 2 || d.Annotations[kube.AnnotationReplicas] != "" {
		t.Errorf("autoscaled workload changed: %d replicas, annotation %q", *d.Spec.Replicas, d.Annotations[kube.AnnotationReplicas])
	}
}

// serviceDeleted publishes the control plane's service.delete.finished and
// returns helm-service's answer.
func (e *env) serviceDeleted(t *testing.T, project, service string) (cloudevents.Event, events.ServiceDeleteFinished) {
	t.Helper()
	typ := events.Type(events.TaskServiceDelete, events.PhaseFinished)
	id := e.publish(t, typ, map[string]any{"project": project, "service": service, "status": "succeeded", "result": "pass"})
	answers := e.answers.await(t, id, deployTimeout)
	if len(answers) != 1 || answers[0].Type() != typ || answers[0].Source() != "helm-service" {
		t.Fatalf("answers to service.delete.finished: %d, want one %s from helm-service", len(answers), typ)
	}
	var data events.ServiceDeleteFinished
	if err := json.Unmarshal(answers[0].Data(), &data); err != nil {
		t.Fatal(err)
	}
	return answers[0], data
}

// TestDeleteService deletes a service deployed directly in one stage and
// blue/green in another: no release or routing object of it remains, and
// another service of the project is untouched.
func TestDeleteService(t *testing.T) {
	project := suite.project("del")
	dev, prod := project+"-dev", project+"-prod"
	if err := os.CopyFS(filepath.Join(suite.chartDir, project, "orders"), os.DirFS("../testdata/charts/carts")); err != nil {
		t.Fatal(err)
	}
	_, data := suite.finished(t, suite.trigger(t, suite.nats, deploymentTrigger(project, "dev", "carts", "direct", nil)), deployTimeout)
	expectSucceeded(t, data)
	suite.deployBlueGreen(t, project, "prod", "carts", nil)
	_, data = suite.finished(t, suite.trigger(t, suite.nats, deploymentTrigger(project, "prod", "orders", "direct", nil)), deployTimeout)
	expectSucceeded(t, data)

	start := time.Now()
	reply, out := suite.serviceDeleted(t, project, "carts")
	t.Logf("service removed in %s: %s", time.Since(start).Round(time.Millisecond), out.Message)
	if out.Status != events.StatusSucceeded || out.Result != events.ResultPass || out.Project != project || out.Service != "carts" {
		t.Fatalf("finished %+v", out.Common)
	}
	wantReleases := []string{dev + "/carts", prod + "/carts-canary", prod + "/carts-primary"}
	if out.Removed == nil || !slices.Equal(out.Removed.Releases, wantReleases) || !slices.Contains(out.Removed.RoutingObjects, "Service "+prod+"/carts") {
		t.Errorf("removed = %+v, want releases %v and the stable Service", out.Removed, wantReleases)
	}
	for _, r := range wantReleases {
		if !strings.Contains(out.Message, r) {
			t.Errorf("message %q does not name %s", out.Message, r)
		}
	}

	for _, ns := range []string{dev, prod} {
		secrets, err := suite.clientset.CoreV1().Secrets(ns).List(ctx(t), metav1.ListOptions{LabelSelector: "owner=helm," + kube.LabelService + "=carts"})
		if err != nil || len(secrets.Items) != 0 {
			t.Errorf("Helm releases of carts left in %s: %d (%v)", ns, len(secrets.Items), err)
		}
		svcs, err := suite.clientset.CoreV1().Services(ns).List(ctx(t), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range svcs.Items {
			if strings.HasPrefix(s.Name, "carts") {
				t.Errorf("Service %s/%s left", ns, s.Name)
			}
		}
		deps, err := suite.clientset.AppsV1().Deployments(ns).List(ctx(t), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range deps.Items {
			if strings.HasPrefix(d.Name, "carts") {
				t.Errorf("Deployment %s/%s left", ns, d.Name)
			}
		}
		if _, err := suite.clientset.CoreV1().Namespaces().Get(ctx(t), ns, metav1.GetOptions{}); err != nil {
			t.Errorf("namespace %s: %v; namespaces stay unless DELETE_EMPTY_NAMESPACES is set", ns, err)
		}
	}
	if d := getDeployment(t, prod, "orders"); d.Status.ReadyReplicas != 2 {
		t.Errorf("orders has %d ready replicas, want 2 (untouched)", d.Status.ReadyReplicas)
	}
	if r := helmRelease(t, prod, "orders"); r.status != "deployed" {
		t.Errorf("orders release is %s, want deployed", r.status)
	}

	t.Run("own answer is ignored", func(t *testing.T) {
		time.Sleep(time.Second)
		suite.answers.mu.Lock()
		got := len(suite.answers.byID[reply.ID()])
		suite.answers.mu.Unlock()
		if got != 0 {
			t.Errorf("helm-service answered its own service.delete.finished %d times", got)
		}
	})
	t.Run("nothing deployed is a success", func(t *testing.T) {
		_, again := suite.serviceDeleted(t, project, "carts")
		if again.Status != events.StatusSucceeded || !strings.Contains(again.Message, "nothing deployed") {
			t.Errorf("second delete: %s %q", again.Status, again.Message)
		}
	})
}

// TestDeleteServiceEmptyNamespaces: with DELETE_EMPTY_NAMESPACES=true the
// namespace helm-service made is deleted once the removal leaves it empty,
// and a namespace with another service stays. The service is release carts
// in both stages, and both are uninstalled.
func TestDeleteServiceEmptyNamespaces(t *testing.T) {
	inst := startInstance(t, map[string]string{"DELETE_EMPTY_NAMESPACES": "true", "NATS_QUEUE_GROUP": "helm-service-ns"})
	project := suite.project("delns")
	if err := os.CopyFS(filepath.Join(suite.chartDir, project, "orders"), os.DirFS("../testdata/charts/carts")); err != nil {
		t.Fatal(err)
	}
	for _, d := range []struct{ stage, service string }{{"dev", "carts"}, {"prod", "carts"}, {"prod", "orders"}} {
		_, data := inst.finished(t, inst.trigger(t, inst.nats, deploymentTrigger(project, d.stage, d.service, "direct", nil)), deployTimeout)
		expectSucceeded(t, data)
	}
	_, out := inst.serviceDeleted(t, project, "carts")
	// carts is release carts in both stages: both are uninstalled.
	wantReleases := []string{project + "-dev/carts", project + "-prod/carts"}
	if out.Status != events.StatusSucceeded || out.Removed == nil || !slices.Equal(out.Removed.Releases, wantReleases) {
		t.Errorf("finished %s %q, removed %+v; want releases %v", out.Status, out.Message, out.Removed, wantReleases)
	}
	for _, stage := range []string{"dev", "prod"} {
		secrets, err := suite.clientset.CoreV1().Secrets(project+"-"+stage).List(ctx(t), metav1.ListOptions{LabelSelector: "owner=helm,name=carts"})
		if err != nil || len(secrets.Items) != 0 {
			t.Errorf("Helm release carts left in %s-%s: %d records (%v)", project, stage, len(secrets.Items), err)
		}
	}
	if out.Status != events.StatusSucceeded || out.Removed == nil || !slices.Equal(out.Removed.Namespaces, []string{project + "-dev"}) {
		t.Fatalf("finished %s %q, removed %+v; want namespace %s-dev deleted", out.Status, out.Message, out.Removed, project)
	}
	ns, err := suite.clientset.CoreV1().Namespaces().Get(ctx(t), project+"-dev", metav1.GetOptions{})
	if err == nil && ns.DeletionTimestamp == nil {
		t.Errorf("namespace %s-dev is still there and not being deleted", project)
	}
	if _, err := suite.clientset.CoreV1().Namespaces().Get(ctx(t), project+"-prod", metav1.GetOptions{}); err != nil {
		t.Errorf("namespace %s-prod with orders in it: %v", project, err)
	}
}

// createAutoscaler makes a HorizontalPodAutoscaler name (2 to 5 replicas)
// for the Deployment target in ns.
func createAutoscaler(t *testing.T, ns, name, target string) {
	t.Helper()
	minReplicas := int32(2)
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: target},
			MinReplicas:    &minReplicas,
			MaxReplicas:    5,
		},
	}
	if _, err := suite.clientset.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(ctx(t), hpa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}
