package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/vargroups"
)

// lifecycleFinished is the data of release.finished and rollback.finished.
type lifecycleFinished struct {
	events.Common
	Release  *events.Outcome `json:"release"`
	Rollback *events.Outcome `json:"rollback"`
}

// triggerTask publishes sh.keptn.event.<task>.triggered and returns its id.
func (e *env) triggerTask(t *testing.T, task string, data map[string]any) string {
	t.Helper()
	return send(t, e.nats, newEvent(t, events.Type(task, events.PhaseTriggered), data))
}

// taskFinished waits for .started then .finished of a release or rollback.
func (e *env) taskFinished(t *testing.T, task, id string) lifecycleFinished {
	t.Helper()
	answers := e.answers.await(t, id, deployTimeout)
	if len(answers) != 2 || answers[0].Type() != events.Type(task, events.PhaseStarted) || answers[1].Type() != events.Type(task, events.PhaseFinished) {
		var types []string
		for _, a := range answers {
			types = append(types, a.Type())
		}
		t.Fatalf("answers to %s = %v, want %s .started and .finished", id, types, task)
	}
	var data lifecycleFinished
	if err := json.Unmarshal(answers[1].Data(), &data); err != nil {
		t.Fatalf("finished data %s: %v", answers[1].Data(), err)
	}
	return data
}

func lifecycleTrigger(project, stage, service, result string) map[string]any {
	return map[string]any{"project": project, "stage": stage, "service": service, "result": result, "status": "succeeded"}
}

// runTask triggers a release or rollback and returns its finished data,
// requiring success, and how long it took.
func (e *env) runTask(t *testing.T, task string, data map[string]any) (lifecycleFinished, time.Duration) {
	t.Helper()
	start := time.Now()
	out := e.taskFinished(t, task, e.triggerTask(t, task, data))
	took := time.Since(start)
	if out.Status != events.StatusSucceeded || out.Result != events.ResultPass {
		t.Fatalf("%s finished %s/%s: %s", task, out.Status, out.Result, out.Message)
	}
	return out, took
}

func (e *env) deployBlueGreen(t *testing.T, project, stage, service string, values map[string]any) events.DeploymentFinished {
	t.Helper()
	id := e.trigger(t, e.nats, deploymentTrigger(project, stage, service, "duplicate", values))
	_, data := e.finished(t, id, deployTimeout)
	expectSucceeded(t, data)
	return data
}

func image(t *testing.T, ns, name string) string {
	t.Helper()
	return getDeployment(t, ns, name).Spec.Template.Spec.Containers[0].Image
}

func replicas(t *testing.T, ns, name string) int32 {
	t.Helper()
	d := getDeployment(t, ns, name)
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

// routedTo reads which side a stable Service selects, and checks that its
// selector is that side's release.
func routedTo(t *testing.T, ns, stable, service string) string {
	t.Helper()
	svc, err := suite.clientset.CoreV1().Services(ns).Get(ctx(t), stable, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("stable Service %s/%s: %v", ns, stable, err)
	}
	side := svc.Labels["keptn.sh/routed-to"]
	if got := svc.Spec.Selector["app.kubernetes.io/instance"]; got != service+"-"+side {
		t.Errorf("Service %s is labelled routed to %q but selects instance %q", stable, side, got)
	}
	return side
}

// readyEndpoints counts the ready endpoints of a Service's EndpointSlices
// and returns the pods they point at.
func readyEndpoints(ns, service string) (int, []string, error) {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	slices, err := suite.clientset.DiscoveryV1().EndpointSlices(ns).List(c, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + service})
	if err != nil {
		return 0, nil, err
	}
	n := 0
	var pods []string
	for _, s := range slices.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready == nil || *e.Conditions.Ready {
				n++
				if e.TargetRef != nil {
					pods = append(pods, e.TargetRef.Name)
				}
			}
		}
	}
	return n, pods, nil
}

// awaitEndpoints waits until every ready endpoint of the Service is a pod
// whose name starts with prefix, and there is at least one.
func awaitEndpoints(t *testing.T, ns, service, prefix string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		n, pods, err := readyEndpoints(ns, service)
		ok := err == nil && n > 0 && len(pods) == n
		for _, p := range pods {
			ok = ok && strings.HasPrefix(p, prefix)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Service %s/%s endpoints = %v (%d ready, err %v), want only pods %s*", ns, service, pods, n, err, prefix)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// endpointWatch observes a Service's EndpointSlices until stopped, two
// ways: it polls them, and it watches them so that no intermediate state
// goes unseen between two polls. It counts the polls and the watch events
// that found no ready endpoint.
type endpointWatch struct {
	stop              chan struct{}
	done              sync.WaitGroup
	polls, empty, err int
	// events and emptyEvents count watch events, and those after which the
	// Service had no ready endpoint.
	events, emptyEvents int
	watchErr            error
}

func watchEndpoints(ns, service string) (*endpointWatch, error) {
	w := &endpointWatch{stop: make(chan struct{})}
	// The watch starts from the current state: list, then watch from its
	// resource version.
	c, cancel := context.WithCancel(context.Background())
	list, err := suite.clientset.DiscoveryV1().EndpointSlices(ns).List(c, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + service})
	if err != nil {
		cancel()
		return nil, err
	}
	ready := map[string]int{}
	for i := range list.Items {
		ready[list.Items[i].Name] = readyOf(&list.Items[i])
	}
	watcher, err := suite.clientset.DiscoveryV1().EndpointSlices(ns).Watch(c, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + service, ResourceVersion: list.ResourceVersion,
	})
	if err != nil {
		cancel()
		return nil, err
	}
	w.done.Add(2)
	go func() {
		defer w.done.Done()
		defer watcher.Stop()
		for {
			select {
			case <-w.stop:
				cancel()
				return
			case ev, ok := <-watcher.ResultChan():
				if !ok {
					w.watchErr = fmt.Errorf("watch closed early")
					<-w.stop
					cancel()
					return
				}
				slice, isSlice := ev.Object.(*discoveryv1.EndpointSlice)
				if !isSlice {
					continue
				}
				w.events++
				if ev.Type == watch.Deleted {
					delete(ready, slice.Name)
				} else {
					ready[slice.Name] = readyOf(slice)
				}
				total := 0
				for _, n := range ready {
					total += n
				}
				if total == 0 {
					w.emptyEvents++
				}
			}
		}
	}()
	go func() {
		defer w.done.Done()
		for {
			select {
			case <-w.stop:
				return
			default:
			}
			n, _, err := readyEndpoints(ns, service)
			w.polls++
			switch {
			case err != nil:
				w.err++
			case n == 0:
				w.empty++
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return w, nil
}

func readyOf(s *discoveryv1.EndpointSlice) int {
	n := 0
	for _, e := range s.Endpoints {
		if e.Conditions.Ready == nil || *e.Conditions.Ready {
			n++
		}
	}
	return n
}

func (w *endpointWatch) finish() {
	close(w.stop)
	w.done.Wait()
}

// TestBlueGreenServiceRouter runs a service through the blue/green life
// cycle with the service router in canary mode: first deployment, a new
// canary, promotion, a failed release, a failed deployment and a rollback.
func TestBlueGreenServiceRouter(t *testing.T) {
	project, stage := suite.project("bg"), "staging"
	ns := project + "-" + stage

	// v1: the first deployment gives primary and canary the same version.
	data := suite.deployBlueGreen(t, project, stage, "carts", map[string]any{"image": "example/carts:1"})
	d := data.Deployment
	if d.DeploymentStrategy != "blue_green_service" || len(d.DeploymentNames) != 1 || d.DeploymentNames[0] != "canary" ||
		len(d.DeploymentURIsLocal) != 1 || d.DeploymentURIsLocal[0] != "http://carts."+ns+":80" || d.ReleaseName != "carts-canary" {
		t.Errorf("deployment data = %+v", d)
	}
	if p, c := image(t, ns, "carts-primary"), image(t, ns, "carts-canary"); p != "example/carts:1" || c != "example/carts:1" {
		t.Errorf("after the first deployment primary runs %s and canary %s, want both example/carts:1", p, c)
	}
	if side := routedTo(t, ns, "carts", "carts"); side != "canary" {
		t.Errorf("after the first deployment the stable Service routes to %q, want canary", side)
	}
	if rel := helmRelease(t, ns, "carts-primary"); rel.labels["keptn.sh/strategy"] != "blue_green_service" || rel.labels["keptn.sh/deployment"] != "primary" {
		t.Errorf("primary release labels = %v", rel.labels)
	}
	pods, err := suite.clientset.CoreV1().Pods(ns).List(ctx(t), metav1.ListOptions{LabelSelector: "keptn.sh/service=carts,keptn.sh/deployment=canary"})
	if err != nil || len(pods.Items) != 2 {
		t.Errorf("canary pods labelled by the post-renderer: %d (%v), want 2", len(pods.Items), err)
	}

	// v2 becomes the canary; the primary keeps v1.
	suite.deployBlueGreen(t, project, stage, "carts", map[string]any{"image": "example/carts:2", "config": map[string]any{"greeting": "v2"}})
	if p, c := image(t, ns, "carts-primary"), image(t, ns, "carts-canary"); p != "example/carts:1" || c != "example/carts:2" {
		t.Errorf("after deploying v2 primary runs %s and canary %s, want v1 and v2", p, c)
	}
	if side := routedTo(t, ns, "carts", "carts"); side != "canary" {
		t.Errorf("stable Service routes to %q, want canary", side)
	}
	awaitEndpoints(t, ns, "carts", "carts-canary-")

	// release pass promotes v2, while the stable Service's endpoints are
	// watched.
	w, err := watchEndpoints(ns, "carts")
	if err != nil {
		t.Fatal(err)
	}
	rel, took := suite.runTask(t, "release", lifecycleTrigger(project, stage, "carts", "pass"))
	awaitEndpoints(t, ns, "carts", "carts-primary-")
	w.finish()
	t.Logf("promotion took %s; stable Service EndpointSlices during it: polled %d times, %d polls found no ready endpoint, %d failed; watched %d changes, %d left no ready endpoint",
		took.Round(time.Millisecond), w.polls, w.empty, w.err, w.events, w.emptyEvents)
	if w.empty != 0 || w.err != 0 || w.polls == 0 {
		t.Errorf("endpoints during promotion: %d polls, %d empty, %d errors; want none empty", w.polls, w.empty, w.err)
	}
	if w.watchErr != nil || w.events == 0 || w.emptyEvents != 0 {
		t.Errorf("endpoints during promotion: %d watched changes, %d empty (watch error %v); want changes, none empty", w.events, w.emptyEvents, w.watchErr)
	}
	if rel.Release == nil || rel.Release.Action != "promoted" || rel.Release.Strategy != "blue_green_service" || rel.Release.ReleaseName != "carts-primary" ||
		rel.Release.Traffic == nil || *rel.Release.Traffic != (events.Traffic{Primary: 100}) {
		t.Errorf("release outcome = %+v (%s)", rel.Release, rel.Message)
	}
	if p := image(t, ns, "carts-primary"); p != "example/carts:2" {
		t.Errorf("after promotion the primary runs %s, want example/carts:2", p)
	}
	cm, err := suite.clientset.CoreV1().ConfigMaps(ns).Get(ctx(t), "carts-primary-config", metav1.GetOptions{})
	if err != nil || cm.Data["GREETING"] != "v2" {
		t.Errorf("primary config after promotion = %v (%v), want the canary's values (greeting v2)", cm.Data, err)
	}
	if side := routedTo(t, ns, "carts", "carts"); side != "primary" {
		t.Errorf("after promotion the stable Service routes to %q, want primary", side)
	}
	if r := replicas(t, ns, "carts-canary"); r != 0 {
		t.Errorf("after promotion the canary has %d replicas, want 0", r)
	}

	// v3 as canary, then release fail: primary keeps v2.
	suite.deployBlueGreen(t, project, stage, "carts", map[string]any{"image": "example/carts:3"})
	if c, r := image(t, ns, "carts-canary"), replicas(t, ns, "carts-canary"); c != "example/carts:3" || r != 2 {
		t.Errorf("canary after deploying v3 runs %s with %d replicas, want example/carts:3 with 2", c, r)
	}
	if side := routedTo(t, ns, "carts", "carts"); side != "canary" {
		t.Errorf("stable Service routes to %q, want canary", side)
	}
	rel, _ = suite.runTask(t, "release", lifecycleTrigger(project, stage, "carts", "fail"))
	if rel.Release == nil || rel.Release.Action != "rolled-back" {
		t.Errorf("release outcome = %+v (%s)", rel.Release, rel.Message)
	}
	if p := image(t, ns, "carts-primary"); p != "example/carts:2" {
		t.Errorf("after a failed release the primary runs %s, want example/carts:2", p)
	}
	if side := routedTo(t, ns, "carts", "carts"); side != "primary" {
		t.Errorf("after a failed release the stable Service routes to %q, want primary", side)
	}
	if r := replicas(t, ns, "carts-canary"); r != 0 {
		t.Errorf("after a failed release the canary has %d replicas, want 0", r)
	}
	awaitEndpoints(t, ns, "carts", "carts-primary-")

	// v4 is deployed, v5 fails to deploy, and Keptn sends rollback.
	suite.deployBlueGreen(t, project, stage, "carts", map[string]any{"image": "example/carts:4"})
	id := suite.trigger(t, suite.nats, deploymentTrigger(project, stage, "carts", "blue_green_service", map[string]any{"image": nil}))
	_, failed := suite.finished(t, id, deployTimeout)
	expectErrored(t, failed, "values.image is required", "carts-canary")
	rb, _ := suite.runTask(t, "rollback", map[string]any{"project": project, "stage": stage, "service": "carts"})
	if rb.Rollback == nil || rb.Rollback.Action != "rolled-back" || rb.Rollback.Strategy != "blue_green_service" {
		t.Errorf("rollback outcome = %+v (%s)", rb.Rollback, rb.Message)
	}
	if p := image(t, ns, "carts-primary"); p != "example/carts:2" {
		t.Errorf("after rollback the primary runs %s, want example/carts:2", p)
	}
	if side := routedTo(t, ns, "carts", "carts"); side != "primary" {
		t.Errorf("after rollback the stable Service routes to %q, want primary", side)
	}
	if r := replicas(t, ns, "carts-canary"); r != 0 {
		t.Errorf("after rollback the canary has %d replicas, want 0", r)
	}
}

// TestBlueGreenTwoWorkloads promotes a chart with two Deployments and two
// Services: each Service gets its own stable Service.
func TestBlueGreenTwoWorkloads(t *testing.T) {
	project, stage := suite.project("bg2"), "prod"
	ns := project + "-" + stage
	if err := os.CopyFS(filepath.Join(suite.chartDir, project, "shop"), os.DirFS("../testdata/charts/shop")); err != nil {
		t.Fatal(err)
	}
	suite.deployBlueGreen(t, project, stage, "shop", nil)
	data := suite.deployBlueGreen(t, project, stage, "shop", map[string]any{
		"frontend": map[string]any{"image": "example/shop-frontend:2"},
		"backend":  map[string]any{"image": "example/shop-backend:2"},
	})
	if u := data.Deployment.DeploymentURIsLocal; len(u) != 1 || u[0] != "http://shop."+ns+":80" {
		t.Errorf("local URIs = %v", u)
	}
	for _, stable := range []string{"shop", "shop-backend"} {
		if side := routedTo(t, ns, stable, "shop"); side != "canary" {
			t.Errorf("%s routes to %q, want canary", stable, side)
		}
	}
	suite.runTask(t, "release", lifecycleTrigger(project, stage, "shop", "warning"))
	for name, want := range map[string]string{"shop-primary": "example/shop-frontend:2", "shop-primary-backend": "example/shop-backend:2"} {
		if got := image(t, ns, name); got != want {
			t.Errorf("%s runs %s, want %s", name, got, want)
		}
	}
	for _, name := range []string{"shop-canary", "shop-canary-backend"} {
		if r := replicas(t, ns, name); r != 0 {
			t.Errorf("%s has %d replicas, want 0", name, r)
		}
	}
	for _, stable := range []string{"shop", "shop-backend"} {
		if side := routedTo(t, ns, stable, "shop"); side != "primary" {
			t.Errorf("%s routes to %q, want primary", stable, side)
		}
	}
	awaitEndpoints(t, ns, "shop-backend", "shop-primary-backend-")

	// The next canary comes back from zero: the frontend to the replicas
	// its chart sets, the backend, which sets none, to one.
	suite.deployBlueGreen(t, project, stage, "shop", map[string]any{"frontend": map[string]any{"image": "example/shop-frontend:3"}})
	for name, want := range map[string]int32{"shop-canary": 2, "shop-canary-backend": 1} {
		if r := replicas(t, ns, name); r != want {
			t.Errorf("%s has %d replicas after the next deployment, want %d", name, r, want)
		}
		// A pod of the replaced ReplicaSet may still count as ready for a
		// moment after the rollout; wait for the count to settle.
		var ready int32
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			if ready = getDeployment(t, ns, name).Status.ReadyReplicas; ready == want || time.Now().After(deadline) {
				break
			}
		}
		if ready != want {
			t.Errorf("%s has %d ready replicas, want %d", name, ready, want)
		}
	}
	awaitEndpoints(t, ns, "shop-backend", "shop-canary-backend-")
}

// TestReleaseAndRollbackDirect: for direct, a passed release changes
// nothing and a failed one rolls back to the previous revision;
// user_managed is left alone.
func TestReleaseAndRollbackDirect(t *testing.T) {
	project, stage := suite.project("rb"), "dev"
	ns := project + "-" + stage
	for _, img := range []string{"example/carts:1", "example/carts:2"} {
		id := suite.trigger(t, suite.nats, deploymentTrigger(project, stage, "carts", "direct", map[string]any{"image": img}))
		_, data := suite.finished(t, id, deployTimeout)
		expectSucceeded(t, data)
	}
	rel, _ := suite.runTask(t, "release", lifecycleTrigger(project, stage, "carts", "pass"))
	if rel.Release == nil || rel.Release.Action != "none" || rel.Release.Strategy != "direct" {
		t.Errorf("release pass outcome = %+v", rel.Release)
	}
	if r := helmRelease(t, ns, "carts"); r.revision != "2" {
		t.Errorf("after release pass the revision is %s, want 2", r.revision)
	}
	rel, _ = suite.runTask(t, "release", lifecycleTrigger(project, stage, "carts", "fail"))
	if rel.Release == nil || rel.Release.Action != "rolled-back" || rel.Release.HelmRevision != 3 {
		t.Errorf("release fail outcome = %+v (%s)", rel.Release, rel.Message)
	}
	if img := image(t, ns, "carts"); img != "example/carts:1" {
		t.Errorf("after release fail the image is %s, want example/carts:1", img)
	}

	// Another sequence (its own Keptn context) fails before making a
	// revision; its rollback must not undo this sequence's revision.
	t.Run("other sequence", func(t *testing.T) {
		id := suite.trigger(t, suite.nats, deploymentTrigger(project, stage, "carts", "direct", map[string]any{"image": nil}))
		_, data := suite.finished(t, id, deployTimeout)
		expectErrored(t, data, "values.image is required")
		rb, _ := suite.runTask(t, "rollback", map[string]any{"project": project, "stage": stage, "service": "carts"})
		if rb.Rollback == nil || rb.Rollback.Action != "none" || !strings.Contains(rb.Message, "nothing to roll back") {
			t.Errorf("rollback outcome = %+v (%s), want none", rb.Rollback, rb.Message)
		}
		if r := helmRelease(t, ns, "carts"); r.revision != "3" {
			t.Errorf("revision after another sequence's rollback = %s, want 3", r.revision)
		}
	})

	if err := os.CopyFS(filepath.Join(suite.chartDir, project, "orders"), os.DirFS(filepath.Join(suite.chartDir, "carts"))); err != nil {
		t.Fatal(err)
	}
	id := suite.trigger(t, suite.nats, deploymentTrigger(project, stage, "orders", "user_managed", nil))
	_, data := suite.finished(t, id, deployTimeout)
	expectSucceeded(t, data)
	rb, _ := suite.runTask(t, "rollback", map[string]any{"project": project, "stage": stage, "service": "orders"})
	if rb.Rollback == nil || rb.Rollback.Action != "none" || rb.Rollback.Strategy != "user_managed" {
		t.Errorf("user_managed rollback outcome = %+v", rb.Rollback)
	}
}

// TestLifecycleBadInput: release and rollback for a service that was never
// deployed, and a release with an unknown result, get a clear errored
// .finished.
func TestLifecycleBadInput(t *testing.T) {
	project := suite.project("ghost")
	cases := []struct {
		name, task string
		data       map[string]any
		want       []string
	}{
		{"release never deployed", "release", lifecycleTrigger(project, "dev", "ghost", "pass"), []string{"ghost", "was never deployed"}},
		{"rollback never deployed", "rollback", lifecycleTrigger(project, "dev", "ghost", ""), []string{"was never deployed"}},
		{"unknown result", "release", lifecycleTrigger(project, "dev", "ghost", "maybe"), []string{`result "maybe"`}},
		{"missing service", "release", lifecycleTrigger(project, "dev", "", "pass"), []string{"service is missing"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := suite.taskFinished(t, c.task, suite.triggerTask(t, c.task, c.data))
			if out.Status != events.StatusErrored || out.Result != events.ResultFail {
				t.Fatalf("finished %s/%s (%s), want errored/fail", out.Status, out.Result, out.Message)
			}
			for _, w := range c.want {
				if !strings.Contains(out.Message, w) {
					t.Errorf("message %q does not contain %q", out.Message, w)
				}
			}
		})
	}
}

// TestBlueGreenPromotionRendersAsTheCanary promotes a canary deployed with
// variables, a trigger's deployment.rollout on top of the configured
// ROLLOUT_* defaults, and checks that the primary's live Deployment then
// reads the same variable Secrets, carries the same variables checksum and
// has the same update strategy as the canary's had.
func TestBlueGreenPromotionRendersAsTheCanary(t *testing.T) {
	e := startInstance(t, map[string]string{"ROLLOUT_STRATEGY": "RollingUpdate", "ROLLOUT_MAX_UNAVAILABLE": "0"})
	project, stage := suite.project("bgpromote"), "prod"
	ns, svc := project+"-"+stage, "carts"

	id := e.trigger(t, e.nats, variablesTrigger(project, stage, svc, "duplicate", map[string]any{"image": "example/carts:1"},
		map[string]any{"FEATURE": "one"}, nil))
	_, data := e.finished(t, id, deployTimeout)
	expectSucceeded(t, data)

	trigger := variablesTrigger(project, stage, svc, "duplicate", map[string]any{"image": "example/carts:2"},
		map[string]any{"FEATURE": "two"}, map[string]any{"REGION": "eu-2"})
	trigger["deployment"].(map[string]any)["rollout"] = map[string]any{"maxSurge": "50%"}
	_, data = e.finished(t, e.trigger(t, e.nats, trigger), deployTimeout)
	expectSucceeded(t, data)

	canary := getDeployment(t, ns, svc+"-canary")
	wantRefs := variableRefs(canary.Spec.Template.Spec.Containers[0])
	wantSum := canary.Spec.Template.Annotations[vargroups.AnnotationChecksum]
	wantStrategy := canary.Spec.Strategy
	if len(wantRefs) == 0 || wantSum == "" {
		t.Fatalf("canary reads variables %v with checksum %q, want both set", wantRefs, wantSum)
	}
	if s := wantStrategy; s.Type != appsv1.RollingUpdateDeploymentStrategyType || s.RollingUpdate == nil ||
		s.RollingUpdate.MaxSurge.String() != "50%" || s.RollingUpdate.MaxUnavailable.String() != "0" {
		t.Fatalf("canary strategy = %+v, want RollingUpdate with maxSurge 50%% (trigger) and maxUnavailable 0 (ROLLOUT_MAX_UNAVAILABLE)", s)
	}

	rel, _ := e.runTask(t, "release", lifecycleTrigger(project, stage, svc, "pass"))
	if rel.Release == nil || rel.Release.Action != "promoted" {
		t.Fatalf("release outcome = %+v (%s)", rel.Release, rel.Message)
	}
	primary := getDeployment(t, ns, svc+"-primary")
	if got := variableRefs(primary.Spec.Template.Spec.Containers[0]); !slices.Equal(got, wantRefs) {
		t.Errorf("promoted primary reads variables %v, want the canary's %v", got, wantRefs)
	}
	if got := primary.Spec.Template.Annotations[vargroups.AnnotationChecksum]; got != wantSum {
		t.Errorf("promoted primary's variables checksum = %q, want the canary's %q", got, wantSum)
	}
	if got := primary.Spec.Strategy; !equality.Semantic.DeepEqual(got, wantStrategy) {
		t.Errorf("promoted primary's strategy = %+v, want the canary's %+v", got, wantStrategy)
	}
	if p := image(t, ns, svc+"-primary"); p != "example/carts:2" {
		t.Errorf("after promotion the primary runs %s, want example/carts:2", p)
	}
}
