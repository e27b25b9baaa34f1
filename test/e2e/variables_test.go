package e2e

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/helm-service/helm-service/pkg/vargroups"
)

// variablesTrigger is a direct deployment of carts that sets variables.
func variablesTrigger(project, stage, service, strategy string, values, svcVars, globalVars map[string]any) map[string]any {
	data := deploymentTrigger(project, stage, service, strategy, values)
	d := data["deployment"].(map[string]any)
	if svcVars != nil {
		d["variables"] = svcVars
	}
	if globalVars != nil {
		d["globalVariables"] = globalVars
	}
	return data
}

func secretData(t *testing.T, ns, name string) *corev1.Secret {
	t.Helper()
	s, err := suite.clientset.CoreV1().Secrets(ns).Get(ctx(t), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("variable group %s/%s: %v", ns, name, err)
	}
	return s
}

// envFromOf lists a container's envFrom sources as kind:name[?optional].
func envFromOf(c corev1.Container) []string {
	var out []string
	for _, s := range c.EnvFrom {
		switch {
		case s.SecretRef != nil:
			name := "secret:" + s.SecretRef.Name
			if s.SecretRef.Optional != nil && *s.SecretRef.Optional {
				name += "?"
			}
			out = append(out, name)
		case s.ConfigMapRef != nil:
			out = append(out, "configmap:"+s.ConfigMapRef.Name)
		}
	}
	return out
}

// replicaSetsOf returns the names of the ReplicaSets of a Deployment with
// the checksum annotation of their pod template.
func replicaSetsOf(t *testing.T, ns string, d *appsv1.Deployment) map[string]string {
	t.Helper()
	list, err := suite.clientset.AppsV1().ReplicaSets(ns).List(ctx(t), metav1.ListOptions{LabelSelector: metav1.FormatLabelSelector(d.Spec.Selector)})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, rs := range list.Items {
		out[rs.Name] = rs.Spec.Template.Annotations[vargroups.AnnotationChecksum]
	}
	return out
}

// expectNoValue fails when a variable value appears in an event or the log.
func expectNoValue(t *testing.T, where string, text []byte, values ...string) {
	t.Helper()
	for _, v := range values {
		if strings.Contains(string(text), v) {
			t.Errorf("%s contains the variable value %q", where, v)
		}
	}
}

// TestVariableGroups deploys a service with service and global variables,
// checks the Secrets, the envFrom order and the checksum on the rendered
// Deployment, changes one variable and checks that the pods roll, deletes
// one, and refuses a non-string value, all without a value ever showing in
// an event or in helm-service's log.
func TestVariableGroups(t *testing.T) {
	project, stage := suite.project("vars"), "dev"
	ns, svc := project+"-"+stage, "carts"
	secret1, secret2 := "db-pass-"+suite.runID+"-one", "db-pass-"+suite.runID+"-two"
	chartEnv := map[string]any{"env": []map[string]any{{"name": "GREETING", "value": "from-chart"}}}

	id := suite.trigger(t, suite.nats, variablesTrigger(project, stage, svc, "direct", chartEnv,
		map[string]any{"DB_PASSWORD": secret1, "LEVEL": "service"},
		map[string]any{"LEVEL": "global", "REGION": "eu-1"}))
	ev, data := suite.finished(t, id, deployTimeout)
	expectSucceeded(t, data)
	expectNoValue(t, "first .finished", ev.Data(), secret1)
	want := []string{"global.LEVEL", "global.REGION", "service.DB_PASSWORD", "service.LEVEL"}
	if data.Deployment == nil || !slices.Equal(data.Deployment.ChangedVariables, want) {
		t.Fatalf("changedVariables = %v, want %v", data.Deployment, want)
	}

	global, service := secretData(t, ns, vargroups.GlobalSecret), secretData(t, ns, vargroups.ServiceSecret(svc))
	if string(global.Data["LEVEL"]) != "global" || string(global.Data["REGION"]) != "eu-1" || len(global.Data) != 2 {
		t.Errorf("global group data %v", global.Data)
	}
	if string(service.Data["LEVEL"]) != "service" || string(service.Data["DB_PASSWORD"]) != secret1 || len(service.Data) != 2 {
		t.Errorf("service group data has %d keys, want DB_PASSWORD and LEVEL", len(service.Data))
	}
	if global.Labels[vargroups.LabelGroup] != vargroups.GroupGlobal || service.Labels[vargroups.LabelGroup] != vargroups.GroupService ||
		service.Labels["keptn.sh/service"] != svc || service.Labels["app.kubernetes.io/managed-by"] != "helm-service" {
		t.Errorf("labels: global %v, service %v", global.Labels, service.Labels)
	}

	d := getDeployment(t, ns, svc)
	c := d.Spec.Template.Spec.Containers[0]
	// Later envFrom sources win, explicit env wins over all of them: chart
	// config, then the global group, then the service group, then env.
	wantFrom := []string{"configmap:" + svc + "-config", "secret:" + vargroups.GlobalSecret + "?", "secret:" + vargroups.ServiceSecret(svc) + "?"}
	if got := envFromOf(c); !slices.Equal(got, wantFrom) {
		t.Errorf("envFrom = %v, want %v", got, wantFrom)
	}
	if len(c.Env) != 1 || c.Env[0].Name != "GREETING" || c.Env[0].Value != "from-chart" {
		t.Errorf("chart env = %v, want GREETING=from-chart", c.Env)
	}
	sum1 := vargroups.Groups{Global: global.Data, Service: service.Data}.Checksum()
	if got := d.Spec.Template.Annotations[vargroups.AnnotationChecksum]; got != sum1 || got == "" {
		t.Fatalf("checksum annotation %q, want %q", got, sum1)
	}
	before := replicaSetsOf(t, ns, d)

	// Changing one variable rolls the pods: a new ReplicaSet with the new
	// checksum.
	id = suite.trigger(t, suite.nats, variablesTrigger(project, stage, svc, "direct", chartEnv, map[string]any{"DB_PASSWORD": secret2}, nil))
	ev, data = suite.finished(t, id, deployTimeout)
	expectSucceeded(t, data)
	expectNoValue(t, "second .finished", ev.Data(), secret1, secret2)
	if want := []string{"service.DB_PASSWORD"}; !slices.Equal(data.Deployment.ChangedVariables, want) {
		t.Errorf("changedVariables = %v, want %v", data.Deployment.ChangedVariables, want)
	}
	service = secretData(t, ns, vargroups.ServiceSecret(svc))
	if string(service.Data["DB_PASSWORD"]) != secret2 {
		t.Error("DB_PASSWORD was not updated in the service group")
	}
	sum2 := vargroups.Groups{Global: global.Data, Service: service.Data}.Checksum()
	d = getDeployment(t, ns, svc)
	if got := d.Spec.Template.Annotations[vargroups.AnnotationChecksum]; got != sum2 || sum2 == sum1 {
		t.Fatalf("checksum after change %q, want %q (before %q)", got, sum2, sum1)
	}
	after := replicaSetsOf(t, ns, d)
	var rolled []string
	for name, sum := range after {
		if _, old := before[name]; !old && sum == sum2 {
			rolled = append(rolled, name)
		}
	}
	if len(rolled) != 1 {
		t.Errorf("ReplicaSets before %v, after %v: want one new with checksum %s", before, after, sum2)
	}

	// Deploying with no variable change keeps the pods.
	id = suite.trigger(t, suite.nats, variablesTrigger(project, stage, svc, "direct", chartEnv, map[string]any{"DB_PASSWORD": secret2}, nil))
	_, data = suite.finished(t, id, deployTimeout)
	expectSucceeded(t, data)
	if len(data.Deployment.ChangedVariables) != 0 {
		t.Errorf("changedVariables = %v for an unchanged value", data.Deployment.ChangedVariables)
	}
	if got := replicaSetsOf(t, ns, getDeployment(t, ns, svc)); len(got) != len(after) {
		t.Errorf("ReplicaSets %v, want still %v", got, after)
	}

	// null deletes a variable.
	id = suite.trigger(t, suite.nats, variablesTrigger(project, stage, svc, "direct", chartEnv, map[string]any{"LEVEL": nil}, nil))
	_, data = suite.finished(t, id, deployTimeout)
	expectSucceeded(t, data)
	if _, ok := secretData(t, ns, vargroups.ServiceSecret(svc)).Data["LEVEL"]; ok || !slices.Equal(data.Deployment.ChangedVariables, []string{"service.LEVEL"}) {
		t.Errorf("LEVEL not deleted; changedVariables = %v", data.Deployment.ChangedVariables)
	}

	// A number is refused, naming the field, and changes nothing.
	id = suite.trigger(t, suite.nats, variablesTrigger(project, stage, svc, "direct", chartEnv, map[string]any{"DB_PASSWORD": 12345, "OTHER": secret1}, nil))
	ev, data = suite.finished(t, id, deployTimeout)
	expectErrored(t, data, "deployment.variables.DB_PASSWORD", "want a string")
	expectNoValue(t, "errored .finished", ev.Data(), "12345", secret1)
	if _, ok := secretData(t, ns, vargroups.ServiceSecret(svc)).Data["OTHER"]; ok {
		t.Error("a refused trigger wrote a variable")
	}

	log, err := os.ReadFile(suite.service.logPath)
	if err != nil {
		t.Fatal(err)
	}
	expectNoValue(t, "helm-service's log", log, secret1, secret2)
}

// TestVariableGroupsBlueGreen checks that both the primary and the canary
// of a blue/green service read the service's group.
func TestVariableGroupsBlueGreen(t *testing.T) {
	project, stage := suite.project("varsbg"), "prod"
	ns, svc := project+"-"+stage, "carts"
	id := suite.trigger(t, suite.nats, variablesTrigger(project, stage, svc, "duplicate", map[string]any{"image": "example/carts:2"},
		map[string]any{"FEATURE": "on"}, nil))
	_, data := suite.finished(t, id, deployTimeout)
	expectSucceeded(t, data)
	want := []string{"configmap:", "secret:" + vargroups.GlobalSecret + "?", "secret:" + vargroups.ServiceSecret(svc) + "?"}
	for _, name := range []string{svc + "-primary", svc + "-canary"} {
		d := getDeployment(t, ns, name)
		got := envFromOf(d.Spec.Template.Spec.Containers[0])
		if len(got) != 3 || !strings.HasPrefix(got[0], want[0]) || !slices.Equal(got[1:], want[1:]) {
			t.Errorf("%s: envFrom = %v, want the chart's config then %v", name, got, want[1:])
		}
		if d.Spec.Template.Annotations[vargroups.AnnotationChecksum] == "" {
			t.Errorf("%s: no checksum annotation", name)
		}
	}
}

// TestVariableGroupEditedRollsDeployment edits a service group's Secret
// directly, with REDEPLOY_ON_VARIABLE_CHANGE=true, and checks that the
// Deployment gets the new checksum and a new ReplicaSet without a trigger.
func TestVariableGroupEditedRollsDeployment(t *testing.T) {
	e := startInstance(t, map[string]string{"REDEPLOY_ON_VARIABLE_CHANGE": "true"})
	project, stage := suite.project("varsedit"), "dev"
	ns, svc := project+"-"+stage, "carts"
	id := e.trigger(t, e.nats, variablesTrigger(project, stage, svc, "direct", nil, map[string]any{"MODE": "a"}, nil))
	_, data := e.finished(t, id, deployTimeout)
	expectSucceeded(t, data)
	d := getDeployment(t, ns, svc)
	sum1 := d.Spec.Template.Annotations[vargroups.AnnotationChecksum]
	before := replicaSetsOf(t, ns, d)

	s := secretData(t, ns, vargroups.ServiceSecret(svc))
	s.Data["MODE"] = []byte("b")
	if _, err := suite.clientset.CoreV1().Secrets(ns).Update(ctx(t), s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	sum2 := vargroups.Groups{Service: s.Data}.Checksum()
	if sum2 == sum1 {
		t.Fatal("edited data has the same checksum")
	}
	deadline := time.Now().Add(time.Minute)
	for {
		d = getDeployment(t, ns, svc)
		if d.Spec.Template.Annotations[vargroups.AnnotationChecksum] == sum2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("checksum still %q a minute after the edit, want %q", d.Spec.Template.Annotations[vargroups.AnnotationChecksum], sum2)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for {
		after := replicaSetsOf(t, ns, d)
		var rolled bool
		for name, sum := range after {
			if _, old := before[name]; !old && sum == sum2 {
				rolled = true
			}
		}
		if rolled {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new ReplicaSet with checksum %s: before %v, after %v", sum2, before, after)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
