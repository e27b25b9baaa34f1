package handler

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/kube"
	"github.com/helm-service/helm-service/pkg/routing"
	"github.com/helm-service/helm-service/pkg/vargroups"
)

// canaryTrigger is a deployment of carts:2 with the blue/green strategy
// and these deployment fields.
func canaryTrigger(t *testing.T, id string, fields map[string]any) *cloudevents.Event {
	in := validTrigger()
	deployment := map[string]any{"deploymentstrategy": "blue_green_service"}
	maps.Copy(deployment, fields)
	in["deployment"] = deployment
	e := triggerEvent(t, in)
	e.SetID(id)
	return e
}

// withClaim is the carts chart whose Deployment mounts a ReadWriteOnce
// PersistentVolumeClaim of the chart, written as a chart directory under
// a new root for charts.Dir.
func withClaim(t *testing.T) string {
	t.Helper()
	ch := cartsChart(t)
	for _, f := range ch.Templates {
		if f.Name == "templates/deployment.yaml" {
			f.Data = []byte(strings.Replace(string(f.Data), "      containers:", `      volumes:
        - name: data
          persistentVolumeClaim:
            claimName: {{ .Release.Name }}-data
      containers:`, 1))
		}
	}
	ch.Templates = append(ch.Templates, &chart.File{Name: "templates/pvc.yaml", Data: []byte(`apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {{ .Release.Name }}-data
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 1Gi
`)})
	root := t.TempDir()
	if err := chartutil.SaveDir(ch, root); err != nil {
		t.Fatal(err)
	}
	return root
}

// secrets returns the Secrets in ns, by name, with their data.
func (c *testCluster) secrets() map[string]map[string]string {
	c.t.Helper()
	list, err := c.clientset.CoreV1().Secrets(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	out := map[string]map[string]string{}
	for _, s := range list.Items {
		data := map[string]string{}
		for k, v := range s.Data {
			data[k] = string(v)
		}
		out[s.Name] = data
	}
	return out
}

// deployment returns Deployment name in ns.
func (c *testCluster) deployment(name string) *appsv1.Deployment {
	c.t.Helper()
	d, err := c.clientset.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	return d
}

// rendering is how a Deployment's pods are rolled out and which Secrets
// they read variables from.
type rendering struct {
	Strategy appsv1.DeploymentStrategy
	Secrets  []corev1.EnvFromSource
}

func renderingOf(d *appsv1.Deployment) rendering {
	r := rendering{Strategy: d.Spec.Strategy}
	for _, e := range d.Spec.Template.Spec.Containers[0].EnvFrom {
		if e.SecretRef != nil {
			r.Secrets = append(r.Secrets, e)
		}
	}
	return r
}

const snapshotID = "0123456789abcdef"

// TestPromoteRendersThePrimaryAsTheCanary: the primary is upgraded with the
// rollout and the variable snapshot the canary's release record keeps (a
// rollout label the canary does not have is removed), a Deployment that
// mounts a ReadWriteOnce claim gets Recreate and the answer says so, and
// snapshots neither side reads any more are collected. The canary is
// deployed by the deployment task, with real variable groups.
func TestPromoteRendersThePrimaryAsTheCanary(t *testing.T) {
	f := newTaskFixture(t, taskOptions{variables: true, charts: withClaim(t)})
	f.deliver(canaryTrigger(t, "deploy-1", map[string]any{"variables": map[string]any{"FEATURE": "off"}, "rollout": map[string]any{"maxUnavailable": 1}}))
	f.deliver(canaryTrigger(t, "deploy-2", map[string]any{"variables": map[string]any{"FEATURE": "on"}, "rollout": map[string]any{"strategy": "RollingUpdate", "maxSurge": "50%"}}))
	for i, e := range f.published.answersOfType("sh.keptn.event.deployment.finished") {
		if !strings.Contains(string(e.Data()), `"status":"succeeded"`) {
			t.Fatalf("deployment %d: %s", i, e.Data())
		}
	}
	canary := f.cluster.record("carts-canary")
	// The primary's record names no sequence: reverts undo the canary.
	wantLabels := maps.Clone(canary.Labels)
	wantLabels[kube.LabelDeployment] = "primary"
	delete(wantLabels, kube.LabelContext)
	oldSnapshot := f.cluster.record("carts-primary").Labels[vargroups.LabelSnapshot]
	snapshot := canary.Labels[vargroups.LabelSnapshot]
	if oldSnapshot == "" || snapshot == "" || oldSnapshot == snapshot {
		t.Fatalf("snapshots of primary %q and canary %q, want two", oldSnapshot, snapshot)
	}
	f.published.reset()
	f.deliver(revertEvent(t, "release", "pass", "keptn-context"))

	common, outcome := lifecycleAnswer(t, f.published, "release")
	if common.Status != events.StatusSucceeded || outcome == nil || outcome.Action != events.ActionPromoted {
		t.Fatalf("finished %s %+v: %s", common.Status, outcome, common.Message)
	}
	for _, want := range []string{"rollout and variables", "Deployment carts-primary uses Recreate instead of RollingUpdate: it mounts the ReadWriteOnce PersistentVolumeClaim carts-primary-data"} {
		if !strings.Contains(common.Message, want) {
			t.Errorf("message %q does not say %q", common.Message, want)
		}
	}
	if diff := cmp.Diff(wantLabels, f.cluster.record("carts-primary").Labels); diff != "" {
		t.Errorf("primary record labels, want the canary's (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(renderingOf(f.cluster.deployment("carts-canary")), renderingOf(f.cluster.deployment("carts-primary"))); diff != "" {
		t.Errorf("primary pods, want them rendered as the canary's (-canary +primary):\n%s", diff)
	}
	if got := renderingOf(f.cluster.deployment("carts-primary")).Strategy.Type; got != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("primary rollout %s, want Recreate for its ReadWriteOnce claim", got)
	}
	wantSecrets := map[string]map[string]string{
		vargroups.ServiceSecret("carts"):            {"FEATURE": "on"},
		vargroups.SnapshotSecret("carts", snapshot): {"FEATURE": "on"},
	}
	if diff := cmp.Diff(wantSecrets, f.cluster.secrets()); diff != "" {
		t.Errorf("Secrets afterwards, want the snapshot of the primary's old version collected (-want +got):\n%s", diff)
	}
}

// TestPromoteRefusesACanaryItCannotRenderAgain: a canary whose release
// record does not say how it was rendered, or whose snapshot is gone, is
// not promoted, the message says what to do, and nothing changes.
func TestPromoteRefusesACanaryItCannotRenderAgain(t *testing.T) {
	// withSubchart is carts with a subchart, which Helm's release record
	// keeps without it.
	withSubchart := func(t *testing.T) *chart.Chart {
		ch := cartsChart(t)
		cache := &chart.Chart{Metadata: &chart.Metadata{APIVersion: "v2", Name: "cache", Version: "0.1.0"}}
		ch.Metadata.Dependencies = []*chart.Dependency{{Name: "cache", Version: "0.1.0"}}
		ch.AddDependency(cache)
		return ch
	}
	rendered := map[string]string{kube.LabelRolloutStrategy: "RollingUpdate", kube.LabelRolloutMaxSurge: "50pct", vargroups.LabelSnapshot: snapshotID}
	with := func(labels map[string]string, more map[string]string) map[string]string {
		out := maps.Clone(labels)
		maps.Copy(out, more)
		return out
	}
	for _, c := range []struct {
		name   string
		canary func(t *testing.T) revision
		want   []string
	}{
		{"no snapshot label", func(*testing.T) revision { return canaryCarts2 }, []string{"has no label keptn.sh/variables-snapshot", "deploy it again"}},
		{"bad rollout label", func(*testing.T) revision {
			r := canaryCarts2
			r.labels = with(rendered, map[string]string{kube.LabelRolloutMaxSurge: "lots"})
			return r
		}, []string{"release label keptn.sh/rollout-max-surge", "deploy it again"}},
		{"chart with subcharts", func(t *testing.T) revision {
			r := canaryCarts2
			r.labels, r.chart = rendered, withSubchart(t)
			return r
		}, []string{"has subcharts", "keeps the chart without them", "traffic unchanged", "direct strategy"}},
		{"snapshot gone", func(*testing.T) revision {
			r := canaryCarts2
			r.labels = rendered
			return r
		}, []string{"label keptn.sh/variables-snapshot", "does not exist", "traffic unchanged", "deploy it again"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newTaskFixture(t, taskOptions{variables: true})
			f.cluster.deploy(primaryCarts1, canaryCarts1, c.canary(t))
			f.cluster.routeToCanary()
			before := f.cluster.state()
			f.deliver(revertEvent(t, "release", "pass", "keptn-context"))
			common, outcome := lifecycleAnswer(t, f.published, "release")
			if common.Status != events.StatusErrored || outcome != nil {
				t.Fatalf("finished %s %+v: %s, want errored", common.Status, outcome, common.Message)
			}
			for _, w := range c.want {
				if !strings.Contains(common.Message, w) {
					t.Errorf("message %q does not contain %q", common.Message, w)
				}
			}
			if diff := cmp.Diff(before, f.cluster.state()); diff != "" {
				t.Errorf("cluster afterwards (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDeploymentBlueGreenSnapshotsVariables: a canary deployment snapshots
// the groups as the trigger's variables would leave them, renders the
// canary with the snapshot and records it and the rollout on the release,
// and writes the variables to the groups only once the canary is ready;
// traffic moves to the canary only then.
func TestDeploymentBlueGreenSnapshotsVariables(t *testing.T) {
	for _, failing := range []bool{false, true} {
		t.Run(map[bool]string{false: "ready canary", true: "failing canary"}[failing], func(t *testing.T) {
			f := newTaskFixture(t, taskOptions{variables: true})
			f.cluster.deploy(primaryCarts1, canaryCarts1, canaryCarts2)
			if err := f.cluster.router().Route(context.Background(), stableTarget(80), routing.AllPrimary); err != nil {
				t.Fatal(err)
			}
			if failing {
				f.cluster.kube.WaitError = errors.New("pods not ready")
			}
			f.deliver(canaryTrigger(t, "deploy", map[string]any{"variables": map[string]any{"FEATURE": "on"}, "rollout": map[string]any{"strategy": "Recreate"}}))
			_, data := f.published.finished(t)

			canary := f.cluster.record("carts-canary")
			snapshot := canary.Labels[vargroups.LabelSnapshot]
			wantLabels := map[string]string{kube.LabelProject: "sockshop", kube.LabelStage: "staging", kube.LabelService: "carts", kube.LabelStrategy: "blue_green_service",
				kube.LabelDeployment: "canary", kube.LabelContext: "keptn-context", kube.LabelRolloutStrategy: "Recreate", vargroups.LabelSnapshot: snapshot}
			if diff := cmp.Diff(wantLabels, canary.Labels); diff != "" {
				t.Errorf("canary record labels (-want +got):\n%s", diff)
			}
			wantSecret := corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: vargroups.SnapshotSecret("carts", snapshot)}, Optional: ptrTo(true)}}
			if diff := cmp.Diff([]corev1.EnvFromSource{wantSecret}, renderingOf(f.cluster.deployment("carts-canary")).Secrets); diff != "" {
				t.Errorf("canary pods read (-want +got):\n%s", diff)
			}
			wantSecrets := map[string]map[string]string{vargroups.SnapshotSecret("carts", snapshot): {"FEATURE": "on"}}
			wantRoute, wantStatus := "primary", events.StatusErrored
			if !failing {
				wantSecrets[vargroups.ServiceSecret("carts")] = map[string]string{"FEATURE": "on"}
				wantRoute, wantStatus = "canary", events.StatusSucceeded
			}
			if diff := cmp.Diff(wantSecrets, f.cluster.secrets()); diff != "" {
				t.Errorf("Secrets afterwards (-want +got):\n%s", diff)
			}
			if got := f.cluster.routedTo(ns, "carts"); got != wantRoute {
				t.Errorf("stable Service routed to %s, want %s", got, wantRoute)
			}
			if data.Status != wantStatus {
				t.Fatalf("finished %s: %s, want %s", data.Status, data.Message, wantStatus)
			}
			if !failing {
				if diff := cmp.Diff([]string{"service.FEATURE"}, data.Deployment.ChangedVariables); diff != "" {
					t.Errorf("changedVariables (-want +got):\n%s", diff)
				}
			}
		})
	}
}
