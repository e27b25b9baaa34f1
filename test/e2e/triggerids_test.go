package e2e

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/uuid"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/helm-service/helm-service/pkg/events"
)

// awaitAnswer waits for an answer to the trigger with this id that is of
// the given type and that match accepts (nil accepts any), and returns it.
// Unlike await it tells apart triggers that share an id.
func (a *answerLog) awaitAnswer(t *testing.T, id, eventType string, match func(cloudevents.Event) bool, timeout time.Duration) cloudevents.Event {
	t.Helper()
	var answer cloudevents.Event
	a.waitFor(t, id, eventType, timeout, func(all []cloudevents.Event) bool {
		for _, e := range all {
			if e.Type() == eventType && (match == nil || match(e)) {
				answer = e
				return true
			}
		}
		return false
	})
	return answer
}

// answersOf counts the answers of a type to the triggers with this id.
func (a *answerLog) answersOf(id, eventType string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, e := range a.byID[id] {
		if e.Type() == eventType {
			n++
		}
	}
	return n
}

// publishAs publishes an event with the given id and source.
func (e *env) publishAs(t *testing.T, eventType, id, source string, data any) {
	t.Helper()
	ev := newEvent(t, eventType, data)
	ev.SetID(id)
	ev.SetSource(source)
	send(t, e.nats, ev)
}

func decodeCommon(t *testing.T, e cloudevents.Event) events.Common {
	t.Helper()
	var c events.Common
	if err := json.Unmarshal(e.Data(), &c); err != nil {
		t.Fatalf("data of %s: %v", e.Type(), err)
	}
	return c
}

// releaseRecords counts the Helm release records of a release.
func releaseRecords(t *testing.T, namespace, name string) int {
	t.Helper()
	secrets, err := suite.clientset.CoreV1().Secrets(namespace).List(ctx(t), metav1.ListOptions{LabelSelector: "owner=helm,name=" + name})
	if err != nil {
		t.Fatal(err)
	}
	return len(secrets.Items)
}

// TestTriggersSharingAnIDAreEachAnswered: Keptn's own example events use
// one id for a release.triggered, an action.triggered and a
// service.delete.finished; replayed in order, each gets its own answer and
// its work is done. Two producers that pick the same id for their
// deployments get one answer each, and both services are deployed.
func TestTriggersSharingAnIDAreEachAnswered(t *testing.T) {
	project, stage := suite.project("ids"), "prod"
	ns := project + "-" + stage

	t.Run("one id, three types", func(t *testing.T) {
		_, data := suite.finished(t, suite.trigger(t, suite.nats, deploymentTrigger(project, stage, "carts", "direct", nil)), deployTimeout)
		expectSucceeded(t, data)
		id := uuid.NewString()

		suite.publishAs(t, events.Type(events.TaskRelease, events.PhaseTriggered), id, "shipyard-controller", lifecycleTrigger(project, stage, "carts", "pass"))
		rel := decodeCommon(t, suite.answers.awaitAnswer(t, id, events.Type(events.TaskRelease, events.PhaseFinished), nil, deployTimeout))
		if rel.Status != events.StatusSucceeded {
			t.Fatalf("release finished %s: %s", rel.Status, rel.Message)
		}

		suite.publishAs(t, events.Type(events.TaskAction, events.PhaseTriggered), id, "shipyard-controller", actionTrigger(project, stage, "carts", events.ActionScaling, "+1"))
		var act events.ActionFinished
		if err := json.Unmarshal(suite.answers.awaitAnswer(t, id, events.Type(events.TaskAction, events.PhaseFinished), nil, deployTimeout).Data(), &act); err != nil {
			t.Fatal(err)
		}
		if act.Status != events.StatusSucceeded || act.Scaling == nil || len(act.Scaling.Workloads) != 1 || act.Scaling.Workloads[0].To != 3 {
			t.Fatalf("action finished %s: %s (%+v), want carts scaled from 2 to 3", act.Status, act.Message, act.Scaling)
		}
		if got := replicas(t, ns, "carts"); got != 3 {
			t.Errorf("carts runs %d replicas after scaling by +1, want 3", got)
		}

		deleteType := events.Type(events.TaskServiceDelete, events.PhaseFinished)
		suite.publishAs(t, deleteType, id, "shipyard-controller", map[string]any{"project": project, "service": "carts", "status": "succeeded", "result": "pass"})
		var del events.ServiceDeleteFinished
		fromService := func(e cloudevents.Event) bool { return e.Source() == "helm-service" }
		if err := json.Unmarshal(suite.answers.awaitAnswer(t, id, deleteType, fromService, deployTimeout).Data(), &del); err != nil {
			t.Fatal(err)
		}
		if del.Status != events.StatusSucceeded || del.Removed == nil || strings.Join(del.Removed.Releases, ",") != ns+"/carts" {
			t.Fatalf("service.delete finished %s: %s (%+v), want release %s/carts removed", del.Status, del.Message, del.Removed, ns)
		}
		if n := releaseRecords(t, ns, "carts"); n != 0 {
			t.Errorf("%d records of release carts left after the removal", n)
		}
		for _, typ := range []string{events.Type(events.TaskRelease, events.PhaseFinished), events.Type(events.TaskAction, events.PhaseFinished)} {
			if n := suite.answers.answersOf(id, typ); n != 1 {
				t.Errorf("%d %s for id %s, want 1", n, typ, id)
			}
		}
	})

	t.Run("one id, two sources", func(t *testing.T) {
		copyChart(t, project, "ida", "carts")
		copyChart(t, project, "idb", "carts")
		id := uuid.NewString()
		var wg sync.WaitGroup
		for _, p := range []struct{ source, service string }{{"producer-a", "ida"}, {"producer-b", "idb"}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				suite.publishAs(t, "sh.keptn.event.deployment.triggered", id, p.source, deploymentTrigger(project, stage, p.service, "direct", nil))
			}()
		}
		wg.Wait()
		finishedType := "sh.keptn.event.deployment.finished"
		for _, svc := range []string{"ida", "idb"} {
			of := func(e cloudevents.Event) bool { return decodeCommon(t, e).Service == svc }
			var data events.DeploymentFinished
			if err := json.Unmarshal(suite.answers.awaitAnswer(t, id, finishedType, of, deployTimeout).Data(), &data); err != nil {
				t.Fatal(err)
			}
			expectSucceeded(t, data)
			if d := getDeployment(t, ns, svc); d.Status.ReadyReplicas != 2 {
				t.Errorf("%s: %d ready replicas, want 2", svc, d.Status.ReadyReplicas)
			}
		}
		if n := suite.answers.answersOf(id, finishedType); n != 2 {
			t.Errorf("%d %s for id %s, want one per trigger", n, finishedType, id)
		}
	})
}
