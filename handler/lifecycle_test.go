package handler

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/golang/mock/gomock"
	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/chart"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/helm-service/helm-service/handler/mocks"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
	"github.com/helm-service/helm-service/pkg/routing"
)

const ns = "sockshop-staging"

// record is a release record of carts as helm.Client.Find returns it.
func record(name, strategy string, revision int, image string) *helm.Record {
	return &helm.Record{
		Result: helm.Result{
			Namespace: ns, Name: name, Revision: revision, Status: "deployed",
			Services:  []helm.Service{{Name: name, Namespace: ns, Port: 80}},
			Workloads: []kube.Workload{{Kind: "Deployment", Namespace: ns, Name: name}},
		},
		Chart:  &chart.Chart{Metadata: &chart.Metadata{Name: "carts", Version: "0.1.0"}},
		Values: map[string]any{"image": image},
		Labels: map[string]string{kube.LabelProject: "sockshop", kube.LabelStage: "staging", kube.LabelService: "carts", kube.LabelStrategy: strategy},
	}
}

var (
	primaryV1 = record("carts-primary", "blue_green_service", 1, "carts:1")
	canaryV2  = record("carts-canary", "blue_green_service", 2, "carts:2")
	directV2  = record("carts", "direct", 2, "carts:2")
)

// stableTarget is the routing target of carts with its Service on port.
func stableTarget(port int32) routing.Target {
	return routing.Target{Namespace: ns, Service: "carts", Backends: []routing.Backend{{Stable: "carts", Primary: "carts-primary", Canary: "carts-canary", Port: port}}}
}

// lifecycleAnswer returns the data of the one .finished of a task.
func lifecycleAnswer(t *testing.T, r *recorder, task string) (events.Common, *events.Outcome) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.events) != 2 || r.events[0].Type() != events.Type(task, events.PhaseStarted) || r.events[1].Type() != events.Type(task, events.PhaseFinished) {
		t.Fatalf("published %d events, want %s .started and .finished", len(r.events), task)
	}
	var data struct {
		events.Common
		Release  *events.Outcome `json:"release"`
		Rollback *events.Outcome `json:"rollback"`
	}
	if err := json.Unmarshal(r.events[1].Data(), &data); err != nil {
		t.Fatal(err)
	}
	if data.Release != nil {
		return data.Common, data.Release
	}
	return data.Common, data.Rollback
}

func lifecycleEvent(t *testing.T, task, result string) map[string]any {
	return map[string]any{"project": "sockshop", "stage": "staging", "service": "carts", "result": result}
}

// Releases of carts as the tests deploy them into a testCluster.
var (
	primaryCarts1 = revision{name: "carts-primary", strategy: "blue_green_service", image: "carts:1"}
	canaryCarts1  = revision{name: "carts-canary", strategy: "blue_green_service", image: "carts:1"}
	canaryCarts2  = revision{name: "carts-canary", strategy: "blue_green_service", image: "carts:2"}
	directCarts1  = revision{name: "carts", strategy: "direct", image: "carts:1"}
	directCarts2  = revision{name: "carts", strategy: "direct", image: "carts:2"}
)

// blueGreenDeployed deploys carts blue/green: the primary at revision 1
// (carts:1), the canary at revision 2 (carts:2) with all traffic, as a
// deployment in route mode canary leaves them.
func blueGreenDeployed(c *testCluster) {
	c.deploy(primaryCarts1, canaryCarts1, canaryCarts2)
	c.routeToCanary()
}

// blueGreenState is the cluster as blueGreenDeployed leaves it.
func blueGreenState() clusterState {
	return clusterState{
		Releases: map[string]releaseState{
			"carts-primary": {Revision: 1, Status: "deployed", Image: "carts:1", Side: "primary"},
			"carts-canary":  {Revision: 2, Status: "deployed", Image: "carts:2", Side: "canary"},
		},
		Workloads: map[string]workloadState{
			ns + "/carts-primary": {Replicas: 2, Side: "primary"},
			ns + "/carts-canary":  {Replicas: 2, Side: "canary"},
		},
		RoutedTo: "canary",
	}
}

// directState is the cluster with release carts at revision (image
// carts:<image>), its Deployment running 2 replicas.
func directState(revision int, image string) clusterState {
	return clusterState{
		Releases:  map[string]releaseState{"carts": {Revision: revision, Status: "deployed", Image: image}},
		Workloads: map[string]workloadState{ns + "/carts": {Replicas: 2}},
	}
}

// change returns s changed by edit.
func change(s clusterState, edit func(*clusterState)) clusterState {
	edit(&s)
	return s
}

// mockRouter returns a Router mock the test scripts.
func mockRouter(script func(r *mocks.MockRouter)) func(*gomock.Controller) Router {
	return func(ctrl *gomock.Controller) Router {
		r := mocks.NewMockRouter(ctrl)
		script(r)
		return r
	}
}

// TestLifecycleTransitions drives release and rollback through every
// strategy and result, on the real Helm SDK and a fake cluster, and
// compares the answer and what is in the cluster afterwards. Only a router
// failing at a chosen moment is a mock.
func TestLifecycleTransitions(t *testing.T) {
	keptPrimary := func(c *testCluster) { c.setReplicas(ns, "carts-primary", 4, true) }
	all := func(steps ...func(*testCluster)) func(*testCluster) {
		return func(c *testCluster) {
			for _, s := range steps {
				s(c)
			}
		}
	}
	deploy := func(revisions ...revision) func(*testCluster) {
		return func(c *testCluster) { c.deploy(revisions...) }
	}
	// promoted: the primary took the canary's version with the count
	// scaling kept on it, all traffic goes to it, the canary is at zero.
	promoted := change(blueGreenState(), func(s *clusterState) {
		s.Releases = map[string]releaseState{
			"carts-primary": {Revision: 2, Status: "deployed", Image: "carts:2", Side: "primary"},
			"carts-canary":  {Revision: 2, Status: "deployed", Image: "carts:2", Side: "canary"},
		}
		s.Workloads = map[string]workloadState{
			ns + "/carts-primary": {Replicas: 4, Kept: "4", Side: "primary"},
			ns + "/carts-canary":  {Replicas: 0, Side: "canary"},
		}
		s.RoutedTo = "primary"
	})
	promotedOutcome := &events.Outcome{Action: "promoted", Strategy: "blue_green_service", Namespace: ns, ReleaseName: "carts-primary", HelmRevision: 2, Traffic: &events.Traffic{Primary: 100}}
	// reverted: all traffic goes to the untouched primary, the canary is
	// at zero.
	reverted := change(blueGreenState(), func(s *clusterState) {
		s.Workloads = map[string]workloadState{
			ns + "/carts-primary": {Replicas: 2, Side: "primary"},
			ns + "/carts-canary":  {Replicas: 0, Side: "canary"},
		}
		s.RoutedTo = "primary"
	})
	revertedOutcome := &events.Outcome{Action: "rolled-back", Strategy: "blue_green_service", Namespace: ns, ReleaseName: "carts-primary", HelmRevision: 1, Traffic: &events.Traffic{Primary: 100}}
	rolledBack := directState(3, "carts:1")
	rolledBackOutcome := &events.Outcome{Action: "rolled-back", Strategy: "direct", Namespace: ns, ReleaseName: "carts", HelmRevision: 3}
	noDirectRollback := LifecycleSettings{RollbackDirectOnFail: false}
	cases := []struct {
		name, task, result string
		settings           *LifecycleSettings
		setup              func(*testCluster)
		// router and releases replace the cluster's when set.
		router   func(*gomock.Controller) Router
		releases Releases
		// wantState is the cluster afterwards; nil: as before.
		wantState   *clusterState
		wantStatus  string
		wantOutcome *events.Outcome
		wantMessage string
	}{
		{name: "blue/green pass promotes", task: "release", result: "pass", setup: all(blueGreenDeployed, keptPrimary),
			wantState: &promoted, wantStatus: "succeeded", wantOutcome: promotedOutcome, wantMessage: "promoted: primary"},
		{name: "blue/green warning promotes", task: "release", result: "warning", setup: all(blueGreenDeployed, keptPrimary),
			wantState: &promoted, wantStatus: "succeeded", wantOutcome: promotedOutcome, wantMessage: "canary is scaled to zero"},
		{name: "blue/green empty result promotes", task: "release", result: "", setup: all(blueGreenDeployed, keptPrimary),
			wantState: &promoted, wantStatus: "succeeded", wantOutcome: promotedOutcome, wantMessage: "promoted"},
		{name: "blue/green fail reverts", task: "release", result: "fail", setup: blueGreenDeployed,
			wantState: &reverted, wantStatus: "succeeded", wantOutcome: revertedOutcome, wantMessage: "primary sockshop-staging/carts-primary at revision 1 (untouched)"},
		{name: "blue/green rollback reverts", task: "rollback", setup: blueGreenDeployed,
			wantState: &reverted, wantStatus: "succeeded", wantOutcome: revertedOutcome, wantMessage: "rolled back"},
		{name: "blue/green failed canary is not promoted", task: "release", result: "pass",
			setup:      all(blueGreenDeployed, deploy(revision{name: "carts-canary", strategy: "blue_green_service", image: "carts:3", fails: true})),
			wantStatus: "errored", wantMessage: "the canary's newest revision 3 is failed, not deployed"},
		{name: "blue/green promote without canary", task: "release", result: "pass", setup: deploy(primaryCarts1),
			wantStatus: "errored", wantMessage: "no canary release carts-canary"},
		{name: "blue/green primary upgrade fails", task: "release", result: "pass",
			setup: all(blueGreenDeployed, keptPrimary, func(c *testCluster) { c.kube.WaitError = errors.New("timed out waiting") }),
			// The primary's new revision failed its wait; traffic and the
			// canary are left alone.
			wantState: ptrTo(change(blueGreenState(), func(s *clusterState) {
				s.Releases["carts-primary"] = releaseState{Revision: 2, Status: "failed", Image: "carts:2", Side: "primary"}
				s.Workloads[ns+"/carts-primary"] = workloadState{Replicas: 4, Kept: "4", Side: "primary"}
			})),
			wantStatus: "errored", wantMessage: "traffic unchanged"},
		{name: "blue/green routing fails", task: "release", result: "fail", setup: blueGreenDeployed,
			router: mockRouter(func(r *mocks.MockRouter) {
				r.EXPECT().Route(gomock.Any(), gomock.Any(), gomock.Any()).Return(errors.New("forbidden"))
			}),
			wantStatus: "errored", wantMessage: "route to the primary: forbidden"},
		{name: "blue/green split unreadable", task: "rollback", setup: blueGreenDeployed,
			router: mockRouter(func(r *mocks.MockRouter) {
				r.EXPECT().Route(gomock.Any(), stableTarget(80), routing.AllPrimary).Return(nil)
				r.EXPECT().Split(gomock.Any(), gomock.Any()).Return(routing.Split{}, routing.ErrNotRouted)
			}),
			wantStatus: "errored", wantMessage: "split cannot be read back"},
		{name: "direct pass is a no-op", task: "release", result: "pass", setup: deploy(directCarts1, directCarts2),
			wantStatus: "succeeded", wantOutcome: &events.Outcome{Action: "none", Strategy: "direct", Namespace: ns}, wantMessage: "nothing to promote"},
		{name: "direct fail rolls back", task: "release", result: "fail", setup: deploy(directCarts1, directCarts2),
			wantState: &rolledBack, wantStatus: "succeeded", wantOutcome: rolledBackOutcome, wantMessage: "from revision 2 back to the previous"},
		{name: "direct fail without rollback", task: "release", result: "fail", settings: &noDirectRollback, setup: deploy(directCarts1, directCarts2),
			wantStatus: "succeeded", wantOutcome: &events.Outcome{Action: "none", Strategy: "direct", Namespace: ns, ReleaseName: "carts", HelmRevision: 2}, wantMessage: "ROLLBACK_DIRECT_ON_FAIL is off"},
		{name: "direct rollback", task: "rollback", setup: deploy(directCarts1, directCarts2),
			wantState: &rolledBack, wantStatus: "succeeded", wantOutcome: rolledBackOutcome, wantMessage: "as revision 3"},
		{name: "direct rollback of this sequence's revision", task: "rollback", setup: deploy(directCarts1, withSequence(directCarts2, "keptn-context")),
			wantState: &rolledBack, wantStatus: "succeeded", wantOutcome: rolledBackOutcome, wantMessage: "as revision 3"},
		{name: "direct rollback of another sequence's revision", task: "rollback", setup: deploy(directCarts1, withSequence(directCarts2, "other-context")),
			wantStatus: "succeeded", wantOutcome: &events.Outcome{Action: "none", Strategy: "direct", Namespace: ns, ReleaseName: "carts", HelmRevision: 2},
			wantMessage: "nothing to roll back: revision 2 of release sockshop-staging/carts was made by sequence other-context"},
		{name: "direct rollback without previous revision", task: "rollback", setup: deploy(directCarts1),
			wantStatus: "errored", wantMessage: "no previous revision"},
		{name: "unlabelled release counts as direct", task: "release", result: "pass", setup: deploy(revision{name: "carts", image: "carts:1"}),
			wantStatus: "succeeded", wantOutcome: &events.Outcome{Action: "none", Strategy: "direct", Namespace: ns}, wantMessage: ""},
		{name: "user_managed fail is a no-op", task: "release", result: "fail", setup: deploy(revision{name: "carts", strategy: "user_managed", image: "carts:1"}),
			wantStatus: "succeeded", wantOutcome: &events.Outcome{Action: "none", Strategy: "user_managed", Namespace: ns, ReleaseName: "carts", HelmRevision: 1}, wantMessage: "left as it is"},
		{name: "user_managed rollback is a no-op", task: "rollback", setup: deploy(revision{name: "carts", strategy: "user_managed", image: "carts:1"}),
			wantStatus: "succeeded", wantOutcome: &events.Outcome{Action: "none", Strategy: "user_managed", Namespace: ns, ReleaseName: "carts", HelmRevision: 1}, wantMessage: "left as it is"},
		{name: "never deployed", task: "release", result: "pass",
			wantStatus: "errored", wantMessage: "service carts in namespace sockshop-staging was never deployed"},
		{name: "never deployed rollback", task: "rollback",
			wantStatus: "errored", wantMessage: "was never deployed"},
		{name: "unknown result", task: "release", result: "great", setup: blueGreenDeployed,
			wantStatus: "errored", wantMessage: `result "great" is not a Keptn result`},
		{name: "releases unreadable", task: "release", result: "pass", releases: unreachableReleases(),
			wantStatus: "errored", wantMessage: "find the releases of service carts in sockshop-staging: connection refused"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := taskOptions{lifecycle: c.settings, releases: c.releases}
			if c.router != nil {
				o.router = c.router(gomock.NewController(t))
			}
			f := newTaskFixture(t, o)
			if c.setup != nil {
				c.setup(f.cluster)
			}
			before := f.cluster.state()
			f.deliver(revertEvent(t, c.task, c.result, "keptn-context"))
			common, outcome := lifecycleAnswer(t, f.published, c.task)
			if common.Status != c.wantStatus || !strings.Contains(common.Message, c.wantMessage) {
				t.Errorf("finished %s: %q, want %s containing %q", common.Status, common.Message, c.wantStatus, c.wantMessage)
			}
			wantResult := events.ResultPass
			if c.wantStatus != events.StatusSucceeded {
				wantResult = events.ResultFail
			}
			if common.Result != wantResult {
				t.Errorf("result %s, want %s", common.Result, wantResult)
			}
			if diff := cmp.Diff(c.wantOutcome, outcome); diff != "" {
				t.Errorf("outcome (-want +got):\n%s", diff)
			}
			want := before
			if c.wantState != nil {
				want = *c.wantState
			}
			if diff := cmp.Diff(want, f.cluster.state()); diff != "" {
				t.Errorf("cluster afterwards (-want +got):\n%s", diff)
			}
		})
	}
}

func ptrTo[T any](v T) *T { return &v }

// withSequence is r made by the sequence with Keptn context keptnContext.
func withSequence(r revision, keptnContext string) revision {
	r.keptnContext = keptnContext
	return r
}

// TestDeploymentBlueGreen covers the deployment of a canary, on the real
// Helm SDK and a fake cluster: first deployment, a later one, dark mode, a
// failing canary, one that cannot be woken up, and an unreadable primary.
func TestDeploymentBlueGreen(t *testing.T) {
	// promotedBefore: carts was promoted (or rolled back) after its last
	// deployment: all traffic on the primary, the canary at zero.
	promotedBefore := func(c *testCluster) {
		blueGreenDeployed(c)
		if err := c.router().Route(context.Background(), stableTarget(80), routing.AllPrimary); err != nil {
			t.Fatal(err)
		}
		c.setReplicas(ns, "carts-canary", 0, false)
	}
	before := blueGreenScaled(workloadState{Replicas: 2}, workloadState{Replicas: 0}, "primary")
	// newCanary is that cluster after a deployment of carts:2 into the
	// canary, routed to routedTo.
	newCanary := func(routedTo string) clusterState {
		s := blueGreenScaled(workloadState{Replicas: 2}, workloadState{Replicas: 2}, routedTo)
		s.Releases["carts-canary"] = releaseState{Revision: 3, Status: "deployed", Image: "carts:2", Side: "canary"}
		return s
	}
	cases := []struct {
		name string
		mode string
		// strategy is the trigger's; duplicate, blue_green_service's other
		// name, when empty.
		strategy string
		setup    func(*testCluster)
		releases Releases
		// wantStarted are the revisions Helm starts, in order.
		wantStarted []string
		// wantState is the cluster afterwards; nil: as before.
		wantState  *clusterState
		wantStatus string
		wantURI    string
		wantMsg    string
	}{
		{name: "first deployment installs primary then canary", mode: RouteModeCanary,
			wantStarted: []string{"carts-primary.v1", "carts-canary.v1"},
			wantState: &clusterState{
				Releases: map[string]releaseState{
					"carts-primary": {Revision: 1, Status: "deployed", Image: "carts:2", Side: "primary"},
					"carts-canary":  {Revision: 1, Status: "deployed", Image: "carts:2", Side: "canary"},
				},
				Workloads: map[string]workloadState{ns + "/carts-primary": {Replicas: 2, Side: "primary"}, ns + "/carts-canary": {Replicas: 2, Side: "canary"}},
				RoutedTo:  "canary",
			},
			wantStatus: "succeeded", wantURI: "http://carts." + ns + ":8080", wantMsg: "routes primary 0%, canary 100%"},
		{name: "later deployment only touches the canary", mode: RouteModeCanary, setup: promotedBefore,
			wantStarted: []string{"carts-canary.v3"}, wantState: ptrTo(newCanary("canary")),
			wantStatus: "succeeded", wantURI: "http://carts." + ns + ":8080", wantMsg: "route mode canary"},
		{name: "the canary records the sequence", mode: RouteModeCanary, strategy: "blue_green_service", setup: promotedBefore,
			wantStarted: []string{"carts-canary.v3"}, wantState: ptrTo(newCanary("canary")),
			wantStatus: "succeeded", wantURI: "http://carts." + ns + ":8080", wantMsg: "route mode canary"},
		{name: "dark mode keeps traffic on the primary", mode: RouteModeDark, setup: promotedBefore,
			wantStarted: []string{"carts-canary.v3"}, wantState: ptrTo(newCanary("primary")),
			wantStatus: "succeeded", wantURI: "http://carts-canary." + ns + ":8080", wantMsg: "route mode dark"},
		{name: "failing canary leaves routing alone", mode: RouteModeCanary,
			setup: func(c *testCluster) {
				promotedBefore(c)
				c.kube.WaitError = errors.New("timed out")
			},
			wantStarted: []string{"carts-canary.v3"},
			wantState: ptrTo(change(newCanary("primary"), func(s *clusterState) {
				s.Releases["carts-canary"] = releaseState{Revision: 3, Status: "failed", Image: "carts:2", Side: "canary"}
			})),
			wantStatus: "errored", wantMsg: "canary of carts: helm upgrade"},
		{name: "canary that cannot be scaled up", mode: RouteModeCanary,
			setup: func(c *testCluster) {
				promotedBefore(c)
				c.clientset.PrependReactor("update", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
					if a.GetSubresource() == "scale" {
						return true, nil, errors.New("forbidden")
					}
					return false, nil, nil
				})
			},
			wantState: &before, wantStatus: "errored", wantMsg: "canary of carts: scale deployment sockshop-staging/carts-canary to 1: forbidden"},
		{name: "unreadable primary", mode: RouteModeCanary, releases: failingReleases(errors.New("forbidden")),
			wantStatus: "errored", wantMsg: "forbidden"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := settings
			s.RouteMode = c.mode
			f := newTaskFixture(t, taskOptions{deployment: &s, releases: c.releases})
			if c.setup != nil {
				c.setup(f.cluster)
			}
			before, started := f.cluster.state(), len(f.cluster.startedSince(0))
			in := validTrigger()
			strategy := c.strategy
			if strategy == "" {
				strategy = "duplicate"
			}
			in["deployment"] = map[string]any{"deploymentstrategy": strategy}
			f.deliver(triggerEvent(t, in))
			_, data := f.published.finished(t)
			if data.Status != c.wantStatus || !strings.Contains(data.Message, c.wantMsg) {
				t.Errorf("finished %s: %q, want %s containing %q", data.Status, data.Message, c.wantStatus, c.wantMsg)
			}
			if diff := cmp.Diff(c.wantStarted, f.cluster.startedSince(started)); diff != "" {
				t.Errorf("revisions started (-want +got):\n%s", diff)
			}
			want := before
			if c.wantState != nil {
				want = *c.wantState
			}
			if diff := cmp.Diff(want, f.cluster.state()); diff != "" {
				t.Errorf("cluster afterwards (-want +got):\n%s", diff)
			}
			if c.wantStatus != events.StatusSucceeded {
				return
			}
			d := data.Deployment
			got := events.Deployment{DeploymentStrategy: d.DeploymentStrategy, DeploymentNames: d.DeploymentNames, DeploymentURIsLocal: d.DeploymentURIsLocal, ReleaseName: d.ReleaseName}
			wantDeployment := events.Deployment{DeploymentStrategy: "blue_green_service", DeploymentNames: []string{"canary"}, DeploymentURIsLocal: []string{c.wantURI}, ReleaseName: "carts-canary"}
			if diff := cmp.Diff(wantDeployment, got); diff != "" {
				t.Errorf("deployment (-want +got):\n%s", diff)
			}
			// The canary's record: the trigger's values without the keptn
			// values of direct releases, the side, and the sequence that
			// deployed it.
			canary := f.cluster.record("carts-canary")
			if _, ok := canary.Values["keptn"]; ok {
				t.Errorf("canary values %v carry keptn values", canary.Values)
			}
			wantLabels := map[string]string{kube.LabelProject: "sockshop", kube.LabelStage: "staging", kube.LabelService: "carts",
				kube.LabelStrategy: "blue_green_service", kube.LabelDeployment: "canary", kube.LabelContext: "keptn-context"}
			if diff := cmp.Diff(wantLabels, canary.Labels); diff != "" {
				t.Errorf("canary record labels (-want +got):\n%s", diff)
			}
		})
	}
}
