package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/helm-service/helm-service/pkg/events"
)

// publishIn publishes an event of the sequence keptnContext (none when
// empty) and returns its id.
func (e *env) publishIn(t *testing.T, eventType string, data any, keptnContext string) string {
	t.Helper()
	ev := newEvent(t, eventType, data)
	if keptnContext == "" {
		ev.SetExtension(events.ExtContext, nil)
	} else {
		ev.SetExtension(events.ExtContext, keptnContext)
	}
	return send(t, e.nats, ev)
}

// deployIn deploys a service in the sequence keptnContext and returns the
// .finished data.
func (e *env) deployIn(t *testing.T, keptnContext string, data map[string]any) events.DeploymentFinished {
	t.Helper()
	_, out := e.finished(t, e.publishIn(t, events.Type(events.TaskDeployment, events.PhaseTriggered), data, keptnContext), deployTimeout)
	return out
}

// revertIn sends a release or rollback of the sequence keptnContext and
// returns its .finished data.
func (e *env) revertIn(t *testing.T, task, keptnContext string, data map[string]any) lifecycleFinished {
	t.Helper()
	return e.taskFinished(t, task, e.publishIn(t, events.Type(task, events.PhaseTriggered), data, keptnContext))
}

// unschedulable are values of the carts chart whose pods no node takes: the
// deployment fails (fail-fast) and leaves a failed revision.
var unschedulable = map[string]any{"nodeSelector": map[string]any{"no-such-node": "true"}}

func withImage(values map[string]any, image string) map[string]any {
	out := map[string]any{"image": image}
	for k, v := range values {
		out[k] = v
	}
	return out
}

// TestRollbackDirectSkipsFailedRevisions: two deployments fail after two
// good ones; the rollback goes back to the newest revision that was
// deployed, not to the failed one before the newest. A service whose every
// revision failed has nothing to roll back to, and a rollback without
// shkeptncontext is refused.
func TestRollbackDirectSkipsFailedRevisions(t *testing.T) {
	project, stage := suite.project("rbskip"), "dev"
	ns := project + "-" + stage
	seq := "e2e-rbskip-" + suite.runID
	for _, img := range []string{"example/carts:1", "example/carts:2"} {
		expectSucceeded(t, suite.deployIn(t, seq, deploymentTrigger(project, stage, "carts", "direct", map[string]any{"image": img})))
	}
	for _, img := range []string{"example/carts:3", "example/carts:4"} {
		expectErrored(t, suite.deployIn(t, seq, deploymentTrigger(project, stage, "carts", "direct", withImage(unschedulable, img))), "Unschedulable")
	}
	if r := helmRelease(t, ns, "carts"); r.revision != "4" || r.status != "failed" {
		t.Fatalf("release after two failed deployments: revision %s %s, want 4 failed", r.revision, r.status)
	}

	rb := suite.revertIn(t, "rollback", seq, map[string]any{"project": project, "stage": stage, "service": "carts"})
	if rb.Status != events.StatusSucceeded || rb.Rollback == nil || rb.Rollback.Action != "rolled-back" || rb.Rollback.HelmRevision != 5 {
		t.Fatalf("rollback finished %s %q, outcome %+v; want rolled back as revision 5", rb.Status, rb.Message, rb.Rollback)
	}
	if !strings.Contains(rb.Message, "from revision 4 back to the previous deployed revision, 2") {
		t.Errorf("message %q does not say it went back to revision 2", rb.Message)
	}
	d := getDeployment(t, ns, "carts")
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "example/carts:2" || len(d.Spec.Template.Spec.NodeSelector) != 0 || d.Status.ReadyReplicas != 2 {
		t.Errorf("after rollback carts runs %s with node selector %v, %d ready; want example/carts:2, none, 2", img, d.Spec.Template.Spec.NodeSelector, d.Status.ReadyReplicas)
	}
	if r := helmRelease(t, ns, "carts"); r.revision != "5" || r.status != "deployed" {
		t.Errorf("release after rollback: revision %s %s, want 5 deployed", r.revision, r.status)
	}

	t.Run("without shkeptncontext", func(t *testing.T) {
		out := suite.revertIn(t, "rollback", "", map[string]any{"project": project, "stage": stage, "service": "carts"})
		if out.Status != events.StatusErrored || !strings.Contains(out.Message, "shkeptncontext is missing") || !strings.Contains(out.Message, "made by sequence "+seq) {
			t.Errorf("finished %s %q, want errored naming shkeptncontext", out.Status, out.Message)
		}
		if r := helmRelease(t, ns, "carts"); r.revision != "5" {
			t.Errorf("revision after a refused rollback = %s, want 5", r.revision)
		}
	})

	t.Run("never deployed", func(t *testing.T) {
		if err := os.CopyFS(filepath.Join(suite.chartDir, project, "orders"), os.DirFS("../testdata/charts/carts")); err != nil {
			t.Fatal(err)
		}
		for _, img := range []string{"example/orders:1", "example/orders:2"} {
			expectErrored(t, suite.deployIn(t, seq, deploymentTrigger(project, stage, "orders", "direct", withImage(unschedulable, img))), "Unschedulable")
		}
		out := suite.revertIn(t, "rollback", seq, map[string]any{"project": project, "stage": stage, "service": "orders"})
		if out.Status != events.StatusErrored || !strings.Contains(out.Message, "no previous revision to roll back to") || !strings.Contains(out.Message, "revision 1 failed") {
			t.Errorf("finished %s %q, want errored saying no earlier revision was deployed", out.Status, out.Message)
		}
		if r := helmRelease(t, ns, "orders"); r.revision != "2" {
			t.Errorf("revision after a refused rollback = %s, want 2", r.revision)
		}
	})
}

// TestBlueGreenRollbackFromOlderSequence: a rollback or failed release of
// a sequence whose canary a newer sequence has replaced leaves the newer
// canary running and receiving traffic; the newer sequence's own rollback
// still reverts it.
func TestBlueGreenRollbackFromOlderSequence(t *testing.T) {
	project, stage := suite.project("bgold"), "prod"
	ns := project + "-" + stage
	older, newer := "e2e-bgold-a-"+suite.runID, "e2e-bgold-b-"+suite.runID
	target := map[string]any{"project": project, "stage": stage, "service": "carts"}
	expectSucceeded(t, suite.deployIn(t, older, deploymentTrigger(project, stage, "carts", "blue_green_service", map[string]any{"image": "example/carts:1"})))
	expectSucceeded(t, suite.deployIn(t, newer, deploymentTrigger(project, stage, "carts", "blue_green_service", map[string]any{"image": "example/carts:2"})))
	if r := helmRelease(t, ns, "carts-canary"); r.labels["keptn.sh/context"] != newer {
		t.Errorf("canary release labels = %v, want keptn.sh/context=%s", r.labels, newer)
	}

	newCanaryRuns := func(step string) {
		t.Helper()
		d := getDeployment(t, ns, "carts-canary")
		if img := d.Spec.Template.Spec.Containers[0].Image; img != "example/carts:2" || *d.Spec.Replicas != 2 || d.Status.ReadyReplicas != 2 {
			t.Errorf("%s: canary runs %s with %d replicas, %d ready; want example/carts:2 with 2, 2 ready", step, img, *d.Spec.Replicas, d.Status.ReadyReplicas)
		}
		if side := routedTo(t, ns, "carts", "carts"); side != "canary" {
			t.Errorf("%s: the stable Service routes to %q, want the canary", step, side)
		}
	}
	rb := suite.revertIn(t, "rollback", older, target)
	if rb.Status != events.StatusSucceeded || rb.Rollback == nil || rb.Rollback.Action != "none" || !strings.Contains(rb.Message, "was made by sequence "+newer) {
		t.Errorf("rollback of the older sequence finished %s %q, outcome %+v; want action none naming the newer sequence", rb.Status, rb.Message, rb.Rollback)
	}
	newCanaryRuns("after the older sequence's rollback")

	failed := map[string]any{"project": project, "stage": stage, "service": "carts", "result": "fail", "status": "succeeded"}
	rel := suite.revertIn(t, "release", older, failed)
	if rel.Status != events.StatusSucceeded || rel.Release == nil || rel.Release.Action != "none" {
		t.Errorf("failed release of the older sequence finished %s %q, outcome %+v; want action none", rel.Status, rel.Message, rel.Release)
	}
	newCanaryRuns("after the older sequence's failed release")

	out := suite.revertIn(t, "rollback", "", target)
	if out.Status != events.StatusErrored || !strings.Contains(out.Message, "shkeptncontext is missing") {
		t.Errorf("rollback without shkeptncontext finished %s %q, want errored naming the field", out.Status, out.Message)
	}
	newCanaryRuns("after a rollback without shkeptncontext")

	rb = suite.revertIn(t, "rollback", newer, target)
	if rb.Status != events.StatusSucceeded || rb.Rollback == nil || rb.Rollback.Action != "rolled-back" {
		t.Fatalf("rollback of the newer sequence finished %s %q, outcome %+v; want rolled back", rb.Status, rb.Message, rb.Rollback)
	}
	if r, side := replicas(t, ns, "carts-canary"), routedTo(t, ns, "carts", "carts"); r != 0 || side != "primary" {
		t.Errorf("after the newer sequence's rollback the canary has %d replicas and traffic goes to %s, want 0 and the primary", r, side)
	}
	if img := image(t, ns, "carts-primary"); img != "example/carts:1" {
		t.Errorf("primary runs %s, want example/carts:1", img)
	}
}
