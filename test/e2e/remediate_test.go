package e2e

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/helm-service/helm-service/pkg/events"
)

// remediationFinished is the data of action.finished for rollback and
// restart, as the bus carries it.
type remediationFinished struct {
	events.Common
	Timings  map[string]int64   `json:"timings"`
	Rollback *remediationResult `json:"rollback"`
	Restart  *remediationResult `json:"restart"`
}

type remediationResult struct {
	Action       string `json:"action"`
	Strategy     string `json:"deploymentstrategy"`
	Namespace    string `json:"namespace"`
	ReleaseName  string `json:"releaseName"`
	HelmRevision int    `json:"helmRevision"`
	Traffic      *struct {
		Primary int `json:"primary"`
		Canary  int `json:"canary"`
	} `json:"traffic"`
	Workloads []struct {
		Kind        string `json:"kind"`
		Name        string `json:"name"`
		Release     string `json:"release"`
		Did         string `json:"did"`
		RestartedAt string `json:"restartedAt"`
	} `json:"workloads"`
}

// remediationAnswerTimeout bounds the wait for the answer to a rollback
// or restart action: a restart of a small chart takes seconds.
const remediationAnswerTimeout = 90 * time.Second

// remediate sends a remediation action and requires .started then a
// succeeded .finished with result pass, whose timings have the phases
// phases.
func (e *env) remediate(t *testing.T, project, stage, service, action string, phases ...string) remediationFinished {
	t.Helper()
	start := time.Now()
	id := e.publish(t, events.Type(events.TaskAction, events.PhaseTriggered), actionTrigger(project, stage, service, action, nil))
	answers := e.answers.await(t, id, remediationAnswerTimeout)
	took := time.Since(start)
	if len(answers) != 2 || answers[0].Type() != "sh.keptn.event.action.started" || answers[1].Type() != "sh.keptn.event.action.finished" {
		t.Fatalf("answers to the %s action: %d, want action .started and .finished", action, len(answers))
	}
	var data remediationFinished
	if err := json.Unmarshal(answers[1].Data(), &data); err != nil {
		t.Fatalf("finished data %s: %v", answers[1].Data(), err)
	}
	if data.Status != events.StatusSucceeded || data.Result != events.ResultPass {
		t.Fatalf("%s action finished %s/%s: %s", action, data.Status, data.Result, data.Message)
	}
	expectTimings(t, action, data.Timings, took, phases, []string{"chartFetch", "render"})
	t.Logf("%s: %s (in %s)", action, data.Message, took.Round(time.Millisecond))
	return data
}

// expectRestarted checks that a restart action restarted exactly the
// Deployments names, and that each rolled out: its pod template carries the
// restartedAt the answer names, a ReplicaSet made after the restart runs
// that template with every replica ready, and no older ReplicaSet keeps a
// pod.
func expectRestarted(t *testing.T, ns string, data remediationFinished, names ...string) {
	t.Helper()
	r := data.Restart
	if r == nil || r.Action != "restarted" || r.Namespace != ns {
		t.Fatalf("restart outcome %+v, want action restarted in %s", r, ns)
	}
	var got []string
	for _, w := range r.Workloads {
		got = append(got, w.Name)
		if w.Kind != "Deployment" || w.Did != "restarted" || w.RestartedAt == "" || !strings.HasPrefix(w.Name, w.Release) {
			t.Errorf("restarted workload %+v, want a Deployment of its release, restarted, with restartedAt", w)
		}
		if _, err := time.Parse(time.RFC3339Nano, w.RestartedAt); err != nil {
			t.Errorf("restartedAt of %s = %q: %v", w.Name, w.RestartedAt, err)
		}
		d := getDeployment(t, ns, w.Name)
		if at := d.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"]; at != w.RestartedAt {
			t.Errorf("%s: pod template restartedAt = %q, want the answer's %q", w.Name, at, w.RestartedAt)
		}
		want := *d.Spec.Replicas
		if d.Status.UpdatedReplicas != want || d.Status.Replicas != want || d.Status.ReadyReplicas != want {
			t.Errorf("%s after the restart: %d updated, %d running, %d ready; want %d of each", w.Name, d.Status.UpdatedReplicas, d.Status.Replicas, d.Status.ReadyReplicas, want)
		}
		sets, err := suite.clientset.AppsV1().ReplicaSets(ns).List(ctx(t), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var current *appsv1.ReplicaSet
		for i, rs := range sets.Items {
			if !metav1.IsControlledBy(&rs, d) {
				continue
			}
			if rs.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] == w.RestartedAt {
				current = &sets.Items[i]
			} else if rs.Status.Replicas != 0 {
				t.Errorf("%s: ReplicaSet %s from before the restart still runs %d pods", w.Name, rs.Name, rs.Status.Replicas)
			}
		}
		if current == nil {
			t.Fatalf("%s: no ReplicaSet runs the restarted pod template", w.Name)
		}
		if current.Status.ReadyReplicas != want {
			t.Errorf("%s: new ReplicaSet %s has %d ready pods, want %d", w.Name, current.Name, current.Status.ReadyReplicas, want)
		}
		pods, err := suite.clientset.CoreV1().Pods(ns).List(ctx(t), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ready := 0
		for _, p := range pods.Items {
			if metav1.IsControlledBy(&p, current) && p.DeletionTimestamp == nil && podReady(p) {
				ready++
			}
		}
		if int32(ready) != want {
			t.Errorf("%s: %d ready pods of the new ReplicaSet, want %d", w.Name, ready, want)
		}
	}
	slices.Sort(got)
	slices.Sort(names)
	if !slices.Equal(got, names) {
		t.Errorf("restarted workloads %v, want %v", got, names)
	}
}

func podReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// TestRemediateDirect restarts a direct service and rolls it back to its
// earlier revision.
func TestRemediateDirect(t *testing.T) {
	project, stage := suite.project("remedy"), "production"
	ns := project + "-" + stage
	for _, img := range []string{"example/carts:1", "example/carts:2"} {
		_, data := suite.finished(t, suite.trigger(t, suite.nats, deploymentTrigger(project, stage, "carts", "direct", map[string]any{"image": img})), deployTimeout)
		expectSucceeded(t, data)
	}

	restarted := suite.remediate(t, project, stage, "carts", "restart", "queued", "apply", "wait", "publish")
	expectRestarted(t, ns, restarted, "carts")
	if r := restarted.Restart; r.ReleaseName != "carts" || r.HelmRevision != 2 || r.Strategy != "direct" {
		t.Errorf("restart outcome %+v, want release carts at revision 2, direct", r)
	}
	if rel := helmRelease(t, ns, "carts"); rel.revision != "2" {
		t.Errorf("after the restart the release is at revision %s, want 2 (a restart writes no revision)", rel.revision)
	}

	rolled := suite.remediate(t, project, stage, "carts", "rollback", "queued", "apply", "wait", "publish")
	r := rolled.Rollback
	if r == nil || r.Action != "rolled-back" || r.ReleaseName != "carts" || r.HelmRevision != 3 || len(r.Workloads) != 1 || r.Workloads[0].Name != "carts" || !strings.Contains(r.Workloads[0].Did, "rolled back") {
		t.Fatalf("rollback outcome %+v, want carts rolled back as revision 3, per workload", r)
	}
	if img := image(t, ns, "carts"); img != "example/carts:1" {
		t.Errorf("after the rollback carts runs %s, want example/carts:1", img)
	}
	if rel := helmRelease(t, ns, "carts"); rel.revision != "3" || rel.status != "deployed" {
		t.Errorf("after the rollback the release is %+v, want revision 3 deployed", rel)
	}
	if d := getDeployment(t, ns, "carts"); d.Status.ReadyReplicas != *d.Spec.Replicas {
		t.Errorf("after the rollback %d of %d replicas ready", d.Status.ReadyReplicas, *d.Spec.Replicas)
	}
}

// TestRemediateBlueGreen restarts a blue/green service whose canary
// carries traffic, then rolls it back to its primary.
func TestRemediateBlueGreen(t *testing.T) {
	project, stage := suite.project("remedybg"), "production"
	ns := project + "-" + stage
	suite.deployBlueGreen(t, project, stage, "carts", map[string]any{"image": "example/carts:1"})
	suite.runTask(t, "release", lifecycleTrigger(project, stage, "carts", "pass"))
	suite.deployBlueGreen(t, project, stage, "carts", map[string]any{"image": "example/carts:2"})
	if side := routedTo(t, ns, "carts", "carts"); side != "canary" {
		t.Fatalf("after the canary's deployment traffic goes to %s, want the canary", side)
	}

	// The canary serves the users and the primary serves again after a
	// rollback: both are restarted, as scaling scales both.
	restarted := suite.remediate(t, project, stage, "carts", "restart", "queued", "apply", "wait", "publish")
	expectRestarted(t, ns, restarted, "carts-canary", "carts-primary")
	if side := routedTo(t, ns, "carts", "carts"); side != "canary" {
		t.Errorf("after the restart traffic goes to %s, want the canary still", side)
	}

	// Routing and scaling the canary to zero: no Helm action.
	rolled := suite.remediate(t, project, stage, "carts", "rollback", "queued", "route", "publish")
	r := rolled.Rollback
	if r == nil || r.Action != "rolled-back" || r.ReleaseName != "carts-primary" || r.Strategy != "blue_green_service" || r.Traffic == nil || r.Traffic.Primary != 100 {
		t.Fatalf("rollback outcome %+v, want carts-primary with all traffic", r)
	}
	did := map[string]string{}
	for _, w := range r.Workloads {
		did[w.Name] = w.Did
	}
	if !strings.Contains(did["carts-primary"], "serves all traffic") || !strings.Contains(did["carts-canary"], "scaled to 0") {
		t.Errorf("rollback per workload %v, want the primary serving all traffic and the canary scaled to 0", did)
	}
	if side := routedTo(t, ns, "carts", "carts"); side != "primary" {
		t.Errorf("after the rollback traffic goes to %s, want the primary", side)
	}
	if got := replicas(t, ns, "carts-canary"); got != 0 {
		t.Errorf("after the rollback the canary wants %d replicas, want 0", got)
	}
	if img := image(t, ns, "carts-primary"); img != "example/carts:1" {
		t.Errorf("after the rollback the primary runs %s, want example/carts:1", img)
	}
}
