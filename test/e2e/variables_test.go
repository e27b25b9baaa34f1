package e2e

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/helm-service/helm-service/pkg/events"
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

// variableRefs lists the variable Secrets (helm-service-vars*) a
// container's envFrom reads, in order.
func variableRefs(c corev1.Container) []string {
	var out []string
	for _, s := range c.EnvFrom {
		if s.SecretRef != nil && strings.HasPrefix(s.SecretRef.Name, vargroups.GlobalSecret) {
			out = append(out, s.SecretRef.Name)
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

// TestVariableGroupsBlueGreen checks that after the first deployment both
// the primary and the canary of a blue/green service read one snapshot of
// the service's variables.
func TestVariableGroupsBlueGreen(t *testing.T) {
	project, stage := suite.project("varsbg"), "prod"
	ns, svc := project+"-"+stage, "carts"
	id := suite.trigger(t, suite.nats, variablesTrigger(project, stage, svc, "duplicate", map[string]any{"image": "example/carts:2"},
		map[string]any{"FEATURE": "on"}, nil))
	_, data := suite.finished(t, id, deployTimeout)
	expectSucceeded(t, data)
	snapshot := snapshotRead(t, ns, svc, "primary")
	want := []string{"configmap:", "secret:" + snapshot.Name + "?"}
	for _, name := range []string{svc + "-primary", svc + "-canary"} {
		d := getDeployment(t, ns, name)
		got := envFromOf(d.Spec.Template.Spec.Containers[0])
		if len(got) != 2 || !strings.HasPrefix(got[0], want[0]) || !slices.Equal(got[1:], want[1:]) {
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

// snapshotsOf returns the variable snapshots of a service by name.
func snapshotsOf(t *testing.T, ns, service string) map[string]corev1.Secret {
	t.Helper()
	list, err := suite.clientset.CoreV1().Secrets(ns).List(ctx(t), metav1.ListOptions{
		LabelSelector: "app.kubernetes.io/managed-by=helm-service,keptn.sh/variable-group=snapshot,keptn.sh/service=" + service,
	})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]corev1.Secret{}
	for _, s := range list.Items {
		out[s.Name] = s
	}
	return out
}

// snapshotRead is the one variable Secret a blue/green side's pods read,
// checked to be an immutable snapshot of the service.
func snapshotRead(t *testing.T, ns, service, side string) corev1.Secret {
	t.Helper()
	d := getDeployment(t, ns, service+"-"+side)
	refs := variableRefs(d.Spec.Template.Spec.Containers[0])
	if len(refs) != 1 || !strings.HasPrefix(refs[0], vargroups.ServiceSecret(service)+"-") {
		t.Fatalf("%s reads the variable Secrets %v, want one snapshot %s-<id>", side, refs, vargroups.ServiceSecret(service))
	}
	s := secretData(t, ns, refs[0])
	if s.Immutable == nil || !*s.Immutable || s.Labels[vargroups.LabelGroup] != "snapshot" || s.Labels["keptn.sh/service"] != service ||
		s.Labels["app.kubernetes.io/managed-by"] != "helm-service" {
		t.Errorf("snapshot %s: immutable %v, labels %v", s.Name, s.Immutable, s.Labels)
	}
	return *s
}

// dataOf is a Secret's data as strings, for comparisons.
func dataOf(s corev1.Secret) map[string]string {
	out := map[string]string{}
	for k, v := range s.Data {
		out[k] = string(v)
	}
	return out
}

// TestBlueGreenVariableIsolation: primary and canary each read their own
// immutable snapshot of the variables. A canary deployed with new values
// leaves the primary's snapshot and pods alone; promotion hands the
// canary's snapshot to the primary; variables of a failed canary
// deployment never reach the primary; snapshots nobody reads are deleted.
func TestBlueGreenVariableIsolation(t *testing.T) {
	project, stage := suite.project("varsiso"), "prod"
	ns, svc := project+"-"+stage, "carts"
	deploy := func(values, svcVars, globalVars map[string]any) events.DeploymentFinished {
		t.Helper()
		_, data := suite.finished(t, suite.trigger(t, suite.nats, variablesTrigger(project, stage, svc, "duplicate", values, svcVars, globalVars)), deployTimeout)
		return data
	}

	// v1: both sides read the same snapshot of both groups.
	expectSucceeded(t, deploy(map[string]any{"image": "example/carts:1"}, map[string]any{"FEATURE": "one"}, map[string]any{"REGION": "eu-1"}))
	v1 := snapshotRead(t, ns, svc, "primary")
	if c := snapshotRead(t, ns, svc, "canary"); c.Name != v1.Name {
		t.Errorf("after the first deployment the canary reads %s and the primary %s, want the same", c.Name, v1.Name)
	}
	if got, want := dataOf(v1), map[string]string{"FEATURE": "one", "REGION": "eu-1"}; !maps.Equal(got, want) {
		t.Errorf("first snapshot holds %v, want %v", got, want)
	}
	primaryBefore := getDeployment(t, ns, svc+"-primary")
	primarySets := replicaSetsOf(t, ns, primaryBefore)

	// v2 with new values: only the canary sees them.
	data := deploy(map[string]any{"image": "example/carts:2"}, map[string]any{"FEATURE": "two"}, map[string]any{"REGION": "eu-2"})
	expectSucceeded(t, data)
	if want := []string{"global.REGION", "service.FEATURE"}; !slices.Equal(data.Deployment.ChangedVariables, want) {
		t.Errorf("changedVariables = %v, want %v", data.Deployment.ChangedVariables, want)
	}
	v2 := snapshotRead(t, ns, svc, "canary")
	if got, want := dataOf(v2), map[string]string{"FEATURE": "two", "REGION": "eu-2"}; !maps.Equal(got, want) {
		t.Errorf("canary's snapshot holds %v, want %v", got, want)
	}
	if p := snapshotRead(t, ns, svc, "primary"); p.Name != v1.Name || !maps.Equal(dataOf(p), dataOf(v1)) {
		t.Errorf("after a canary deployment the primary reads %s %v, want still %s %v", p.Name, dataOf(p), v1.Name, dataOf(v1))
	}
	primaryNow := getDeployment(t, ns, svc+"-primary")
	if primaryNow.Generation != primaryBefore.Generation || !maps.Equal(replicaSetsOf(t, ns, primaryNow), primarySets) {
		t.Errorf("a canary deployment changed the primary: generation %d → %d, ReplicaSets %v → %v",
			primaryBefore.Generation, primaryNow.Generation, primarySets, replicaSetsOf(t, ns, primaryNow))
	}
	if got := string(secretData(t, ns, vargroups.ServiceSecret(svc)).Data["FEATURE"]); got != "two" {
		t.Errorf("service group FEATURE = %q after a successful deployment, want two", got)
	}

	// Two failed canary deployments: one whose chart does not render, one
	// whose Deployment the API server refuses (a failed revision). Neither's
	// variables are kept.
	expectErrored(t, deploy(map[string]any{"image": nil}, map[string]any{"FEATURE": "broken-render"}, nil), "values.image is required")
	expectErrored(t, deploy(map[string]any{"image": "example/carts:3", "replicaCount": -1},
		map[string]any{"FEATURE": "broken-apply"}, nil), "spec.replicas")
	if r := helmRelease(t, ns, svc+"-canary"); r.status != "failed" {
		t.Errorf("canary's newest revision is %s after a refused Deployment, want failed", r.status)
	}
	if got := string(secretData(t, ns, vargroups.ServiceSecret(svc)).Data["FEATURE"]); got != "two" {
		t.Errorf("service group FEATURE = %q after failed deployments, want still two", got)
	}
	for name, s := range snapshotsOf(t, ns, svc) {
		if f := string(s.Data["FEATURE"]); f == "broken-render" {
			t.Errorf("snapshot %s of the deployment that did not render was kept", name)
		}
	}
	if p := snapshotRead(t, ns, svc, "primary"); p.Name != v1.Name {
		t.Errorf("after failed deployments the primary reads %s, want still %s", p.Name, v1.Name)
	}

	// A good canary without variables reads the groups as the last
	// successful deployment left them, which promotion hands to the
	// primary; older snapshots are deleted.
	expectSucceeded(t, deploy(map[string]any{"image": "example/carts:4"}, nil, nil))
	v4 := snapshotRead(t, ns, svc, "canary")
	if got, want := dataOf(v4), map[string]string{"FEATURE": "two", "REGION": "eu-2"}; !maps.Equal(got, want) {
		t.Errorf("canary's snapshot after the failed deployments holds %v, want %v", got, want)
	}
	canarySum := getDeployment(t, ns, svc+"-canary").Spec.Template.Annotations[vargroups.AnnotationChecksum]
	suite.runTask(t, "release", lifecycleTrigger(project, stage, svc, "pass"))
	p := snapshotRead(t, ns, svc, "primary")
	if p.Name != v4.Name || !maps.Equal(dataOf(p), map[string]string{"FEATURE": "two", "REGION": "eu-2"}) {
		t.Errorf("after promotion the primary reads %s %v, want the canary's %s", p.Name, dataOf(p), v4.Name)
	}
	if got := getDeployment(t, ns, svc+"-primary").Spec.Template.Annotations[vargroups.AnnotationChecksum]; got != canarySum || got == "" {
		t.Errorf("primary's checksum after promotion = %q, want the canary's %q", got, canarySum)
	}
	left := slices.Sorted(maps.Keys(snapshotsOf(t, ns, svc)))
	if !slices.Equal(left, []string{v4.Name}) {
		t.Errorf("snapshots left after promotion: %v, want only %s (read by both sides)", left, v4.Name)
	}
}

// TestVariableGroupWatchLeavesBlueGreenAlone: with
// REDEPLOY_ON_VARIABLE_CHANGE=true, neither a canary deployment with new
// variables nor a hand edit of the groups rolls a blue/green primary: its
// pods read their snapshot. A direct service of the namespace, which reads
// the groups themselves, shows that the watch did act.
func TestVariableGroupWatchLeavesBlueGreenAlone(t *testing.T) {
	e := startInstance(t, map[string]string{"REDEPLOY_ON_VARIABLE_CHANGE": "true"})
	project, stage := suite.project("varswatch"), "prod"
	ns := project + "-" + stage
	if err := os.CopyFS(filepath.Join(suite.chartDir, project, "witness"), os.DirFS(filepath.Join(suite.chartDir, "carts"))); err != nil {
		t.Fatal(err)
	}
	_, data := e.finished(t, e.trigger(t, e.nats, variablesTrigger(project, stage, "witness", "direct", nil, nil, map[string]any{"LEVEL": "a"})), deployTimeout)
	expectSucceeded(t, data)
	_, data = e.finished(t, e.trigger(t, e.nats, variablesTrigger(project, stage, "carts", "duplicate", map[string]any{"image": "example/carts:1"},
		map[string]any{"FEATURE": "one"}, nil)), deployTimeout)
	expectSucceeded(t, data)
	primary := getDeployment(t, ns, "carts-primary")
	sets := replicaSetsOf(t, ns, primary)

	_, data = e.finished(t, e.trigger(t, e.nats, variablesTrigger(project, stage, "carts", "duplicate", map[string]any{"image": "example/carts:2"},
		map[string]any{"FEATURE": "two"}, nil)), deployTimeout)
	expectSucceeded(t, data)
	canary := getDeployment(t, ns, "carts-canary")

	witness := getDeployment(t, ns, "witness").Spec.Template.Annotations[vargroups.AnnotationChecksum]
	g := secretData(t, ns, vargroups.GlobalSecret)
	g.Data["LEVEL"] = []byte("b")
	if _, err := suite.clientset.CoreV1().Secrets(ns).Update(ctx(t), g, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); getDeployment(t, ns, "witness").Spec.Template.Annotations[vargroups.AnnotationChecksum] == witness; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the direct service was not rolled a minute after its group was edited: the watch did not act")
		}
	}
	for _, before := range []*appsv1.Deployment{primary, canary} {
		after := getDeployment(t, ns, before.Name)
		if a, b := after.Spec.Template.Annotations[vargroups.AnnotationChecksum], before.Spec.Template.Annotations[vargroups.AnnotationChecksum]; a != b {
			t.Errorf("%s's variables checksum went from %q to %q: the watch rolled it", before.Name, b, a)
		}
		if a, b := variableRefs(after.Spec.Template.Spec.Containers[0]), variableRefs(before.Spec.Template.Spec.Containers[0]); !slices.Equal(a, b) {
			t.Errorf("%s reads %v, before %v", before.Name, a, b)
		}
	}
	if got := replicaSetsOf(t, ns, getDeployment(t, ns, "carts-primary")); !maps.Equal(got, sets) {
		t.Errorf("primary's ReplicaSets went from %v to %v: it was rolled", sets, got)
	}
}
