package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/golang/mock/gomock"
	"helm.sh/helm/v3/pkg/chart"

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
	primaryV1    = record("carts-primary", "blue_green_service", 1, "carts:1")
	canaryV2     = record("carts-canary", "blue_green_service", 2, "carts:2")
	directV2     = record("carts", "direct", 2, "carts:2")
	userV1       = record("carts", "user_managed", 1, "carts:1")
	failedCanary = func() *helm.Record {
		r := record("carts-canary", "blue_green_service", 3, "carts:3")
		r.Status = "failed"
		return r
	}()
	unlabeled = &helm.Record{Result: helm.Result{Namespace: ns, Name: "carts", Revision: 4}}
)

// withContext is a copy of r made by the sequence with Keptn context c.
func withContext(r *helm.Record, c string) *helm.Record {
	out := *r
	out.Labels = map[string]string{kube.LabelContext: c}
	for k, v := range r.Labels {
		out.Labels[k] = v
	}
	return &out
}

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

// TestLifecycleTransitions drives release and rollback through every
// strategy and result, with the collaborators mocked.
func TestLifecycleTransitions(t *testing.T) {
	found := func(records ...*helm.Record) func(f *fixture) {
		return func(f *fixture) {
			f.releases.EXPECT().Find(gomock.Any(), ns, map[string]string{kube.LabelService: "carts"}).Return(records, nil).Times(2)
		}
	}
	keptPrimary := func(f *fixture) {
		f.scaler.EXPECT().Kept(gomock.Any(), primaryV1.Workloads).Return(map[kube.Workload]int32{primaryV1.Workloads[0]: 4}, nil)
	}
	promoteOK := func(f *fixture) {
		keptPrimary(f)
		f.releases.EXPECT().Upgrade(gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, req helm.Request) (*helm.Result, error) {
			if req.Replicas[primaryV1.Workloads[0]] != 4 {
				return nil, fmt.Errorf("primary upgraded with replicas %v, want the count scaling set kept", req.Replicas)
			}
			if req.Name != "carts-primary" || req.Chart != canaryV2.Chart || fmt.Sprint(req.Values) != fmt.Sprint(canaryV2.Values) {
				return nil, fmt.Errorf("primary upgraded with %s %v, want the canary's chart and values", req.Name, req.Values)
			}
			if req.Labels[kube.LabelDeployment] != "primary" || req.ObjectLabels[kube.LabelDeployment] != "primary" || req.Labels[kube.LabelProject] != "sockshop" {
				return nil, fmt.Errorf("labels %v / %v", req.Labels, req.ObjectLabels)
			}
			return &helm.Result{Namespace: ns, Name: req.Name, Revision: 2, Services: []helm.Service{{Name: "carts-primary", Namespace: ns, Port: 80}}}, nil
		})
	}
	routePrimary := func(f *fixture) {
		f.router.EXPECT().Route(gomock.Any(), stableTarget(80), routing.AllPrimary).Return(nil)
		f.router.EXPECT().Split(gomock.Any(), stableTarget(80)).Return(routing.AllPrimary, nil)
	}
	scaleCanary := func(f *fixture) {
		f.scaler.EXPECT().Scale(gomock.Any(), canaryV2.Workloads, int32(0)).Return(nil)
	}
	all := func(steps ...func(*fixture)) func(*fixture) {
		return func(f *fixture) {
			for _, s := range steps {
				s(f)
			}
		}
	}
	noDirectRollback := LifecycleSettings{RollbackDirectOnFail: false}
	cases := []struct {
		name, task, result string
		settings           *LifecycleSettings
		expect             func(*fixture)
		wantStatus         string
		wantAction         string
		wantStrategy       string
		wantMessage        string
	}{
		{"blue/green pass promotes", "release", "pass", nil, all(found(primaryV1, canaryV2), promoteOK, routePrimary, scaleCanary), "succeeded", "promoted", "blue_green_service", "promoted: primary"},
		{"blue/green warning promotes", "release", "warning", nil, all(found(primaryV1, canaryV2), promoteOK, routePrimary, scaleCanary), "succeeded", "promoted", "blue_green_service", "canary is scaled to zero"},
		{"blue/green empty result promotes", "release", "", nil, all(found(primaryV1, canaryV2), promoteOK, routePrimary, scaleCanary), "succeeded", "promoted", "blue_green_service", "promoted"},
		{"blue/green fail reverts", "release", "fail", nil, all(found(primaryV1, canaryV2), routePrimary, scaleCanary), "succeeded", "rolled-back", "blue_green_service", "primary sockshop-staging/carts-primary at revision 1 (untouched)"},
		{"blue/green rollback reverts", "rollback", "", nil, all(found(canaryV2, primaryV1), routePrimary, scaleCanary), "succeeded", "rolled-back", "blue_green_service", "rolled back"},
		{"blue/green failed canary is not promoted", "release", "pass", nil, found(primaryV1, failedCanary), "errored", "", "", "the canary's newest revision 3 is failed, not deployed"},
		{"blue/green promote without canary", "release", "pass", nil, found(primaryV1), "errored", "", "", "no canary release carts-canary"},
		{"blue/green primary upgrade fails", "release", "pass", nil, all(found(primaryV1, canaryV2), keptPrimary, func(f *fixture) {
			f.releases.EXPECT().Upgrade(gomock.Any(), gomock.Any()).Return(nil, errors.New("timed out waiting"))
		}), "errored", "", "", "traffic unchanged"},
		{"blue/green routing fails", "release", "fail", nil, all(found(primaryV1, canaryV2), func(f *fixture) {
			f.router.EXPECT().Route(gomock.Any(), gomock.Any(), gomock.Any()).Return(errors.New("forbidden"))
		}), "errored", "", "", "route to the primary: forbidden"},
		{"blue/green split unreadable", "rollback", "", nil, all(found(primaryV1, canaryV2), func(f *fixture) {
			f.router.EXPECT().Route(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil)
			f.router.EXPECT().Split(gomock.Any(), gomock.Any()).Return(routing.Split{}, routing.ErrNotRouted)
		}), "errored", "", "", "split cannot be read back"},
		{"direct pass is a no-op", "release", "pass", nil, found(directV2), "succeeded", "none", "direct", "nothing to promote"},
		{"direct fail rolls back", "release", "fail", nil, all(found(directV2), func(f *fixture) {
			f.releases.EXPECT().Rollback(gomock.Any(), ns, "carts", gomock.Any()).Return(&helm.Result{Namespace: ns, Name: "carts", Revision: 3}, nil)
		}), "succeeded", "rolled-back", "direct", "from revision 2 back to the previous"},
		{"direct fail without rollback", "release", "fail", &noDirectRollback, found(directV2), "succeeded", "none", "direct", "ROLLBACK_DIRECT_ON_FAIL is off"},
		{"direct rollback", "rollback", "", nil, all(found(directV2), func(f *fixture) {
			f.releases.EXPECT().Rollback(gomock.Any(), ns, "carts", gomock.Any()).Return(&helm.Result{Namespace: ns, Name: "carts", Revision: 3}, nil)
		}), "succeeded", "rolled-back", "direct", "as revision 3"},
		{"direct rollback of this sequence's revision", "rollback", "", nil, all(found(withContext(directV2, "keptn-context")), func(f *fixture) {
			f.releases.EXPECT().Rollback(gomock.Any(), ns, "carts", gomock.Any()).Return(&helm.Result{Namespace: ns, Name: "carts", Revision: 3}, nil)
		}), "succeeded", "rolled-back", "direct", "as revision 3"},
		{"direct rollback of another sequence's revision", "rollback", "", nil, found(withContext(directV2, "other-context")),
			"succeeded", "none", "direct", "nothing to roll back: revision 2 of release sockshop-staging/carts was made by sequence other-context"},
		{"direct rollback without previous revision", "rollback", "", nil, all(found(directV2), func(f *fixture) {
			f.releases.EXPECT().Rollback(gomock.Any(), ns, "carts", gomock.Any()).Return(nil, fmt.Errorf("roll back: %w", helm.ErrNoPreviousRevision))
		}), "errored", "", "", "no previous revision"},
		{"unlabelled release counts as direct", "release", "pass", nil, found(unlabeled), "succeeded", "none", "direct", ""},
		{"user_managed fail is a no-op", "release", "fail", nil, found(userV1), "succeeded", "none", "user_managed", "left as it is"},
		{"user_managed rollback is a no-op", "rollback", "", nil, found(userV1), "succeeded", "none", "user_managed", "left as it is"},
		{"never deployed", "release", "pass", nil, func(f *fixture) {
			f.releases.EXPECT().Find(gomock.Any(), ns, gomock.Any()).Return(nil, nil)
		}, "errored", "", "", "service carts in namespace sockshop-staging was never deployed"},
		{"never deployed rollback", "rollback", "", nil, func(f *fixture) {
			f.releases.EXPECT().Find(gomock.Any(), ns, gomock.Any()).Return(nil, nil)
		}, "errored", "", "", "was never deployed"},
		{"unknown result", "release", "great", nil, func(*fixture) {}, "errored", "", "", `result "great" is not a Keptn result`},
		{"releases unreadable", "release", "pass", nil, func(f *fixture) {
			f.releases.EXPECT().Find(gomock.Any(), ns, gomock.Any()).Return(nil, errors.New("connection refused"))
		}, "errored", "", "", "find the releases of service carts in sockshop-staging: connection refused"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ls := lifecycleSettings
			if c.settings != nil {
				ls = *c.settings
			}
			f := newFixtureWith(t, settings, ls)
			c.expect(f)
			e := triggerEvent(t, lifecycleEvent(t, c.task, c.result))
			e.SetType(events.Type(c.task, events.PhaseTriggered))
			f.deliver(e)
			common, outcome := lifecycleAnswer(t, f.published, c.task)
			if common.Status != c.wantStatus || !strings.Contains(common.Message, c.wantMessage) {
				t.Errorf("finished %s: %q, want %s containing %q", common.Status, common.Message, c.wantStatus, c.wantMessage)
			}
			if c.wantStatus == events.StatusSucceeded {
				if common.Result != events.ResultPass || outcome == nil || outcome.Action != c.wantAction || outcome.Strategy != c.wantStrategy || outcome.Namespace != ns {
					t.Fatalf("result %s, outcome %+v, want pass with action %s for %s", common.Result, outcome, c.wantAction, c.wantStrategy)
				}
				blueGreen := c.wantStrategy == "blue_green_service"
				if blueGreen != (outcome.Traffic != nil) || (blueGreen && *outcome.Traffic != events.Traffic{Primary: 100}) {
					t.Errorf("traffic = %+v, want 100%% primary for blue/green and none otherwise", outcome.Traffic)
				}
			} else if common.Result != events.ResultFail || outcome != nil {
				t.Errorf("errored task: result %s outcome %+v", common.Result, outcome)
			}
		})
	}
}

// TestDeploymentBlueGreen covers the deployment of a canary: first
// deployment, a later one, dark mode, and a failing canary.
func TestDeploymentBlueGreen(t *testing.T) {
	upgrade := func(f *fixture, name string, err error) *gomock.Call {
		return f.releases.EXPECT().Upgrade(gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, req helm.Request) (*helm.Result, error) {
			side := strings.TrimPrefix(req.Name, "carts-")
			if req.Name != name || req.Labels[kube.LabelStrategy] != "blue_green_service" || req.Labels[kube.LabelDeployment] != side || req.ObjectLabels[kube.LabelDeployment] != side {
				return nil, fmt.Errorf("unexpected upgrade of %s with labels %v / %v", req.Name, req.Labels, req.ObjectLabels)
			}
			if _, ok := req.Values["keptn"]; ok || req.Values["image"] != "carts:2" {
				return nil, fmt.Errorf("values %v", req.Values)
			}
			if err != nil {
				return nil, err
			}
			return &helm.Result{Namespace: ns, Name: req.Name, Revision: 5, Services: []helm.Service{{Name: req.Name, Namespace: ns, Port: 8080}}}, nil
		})
	}
	wake := func(f *fixture) {
		f.releases.EXPECT().Get(gomock.Any(), ns, "carts-canary").Return(canaryV2, nil)
		f.scaler.EXPECT().ScaleUpFromZero(gomock.Any(), canaryV2.Workloads).Return(nil)
	}
	cases := []struct {
		name       string
		mode       string
		expect     func(f *fixture)
		wantStatus string
		wantURI    string
		wantMsg    string
	}{
		{"first deployment installs primary then canary", RouteModeCanary, func(f *fixture) {
			f.releases.EXPECT().Get(gomock.Any(), ns, "carts-primary").Return(nil, fmt.Errorf("release: %w", helm.ErrNotFound))
			f.releases.EXPECT().Get(gomock.Any(), ns, "carts-canary").Return(nil, fmt.Errorf("release: %w", helm.ErrNotFound))
			gomock.InOrder(upgrade(f, "carts-primary", nil), upgrade(f, "carts-canary", nil))
			f.router.EXPECT().Route(gomock.Any(), stableTarget(8080), routing.AllCanary).Return(nil)
		}, "succeeded", "http://carts." + ns + ":8080", "routes primary 0%, canary 100%"},
		{"later deployment only touches the canary", RouteModeCanary, func(f *fixture) {
			f.releases.EXPECT().Get(gomock.Any(), ns, "carts-primary").Return(primaryV1, nil)
			wake(f)
			upgrade(f, "carts-canary", nil)
			f.router.EXPECT().Route(gomock.Any(), stableTarget(8080), routing.AllCanary).Return(nil)
		}, "succeeded", "http://carts." + ns + ":8080", "route mode canary"},
		{"dark mode keeps traffic on the primary", RouteModeDark, func(f *fixture) {
			f.releases.EXPECT().Get(gomock.Any(), ns, "carts-primary").Return(primaryV1, nil)
			wake(f)
			upgrade(f, "carts-canary", nil)
			f.router.EXPECT().Route(gomock.Any(), stableTarget(80), routing.AllPrimary).Return(nil)
		}, "succeeded", "http://carts-canary." + ns + ":8080", "route mode dark"},
		{"failing canary leaves routing alone", RouteModeCanary, func(f *fixture) {
			f.releases.EXPECT().Get(gomock.Any(), ns, "carts-primary").Return(primaryV1, nil)
			wake(f)
			upgrade(f, "carts-canary", errors.New("helm upgrade of release sockshop-staging/carts-canary: timed out"))
		}, "errored", "", "canary of carts: helm upgrade"},
		{"canary that cannot be scaled up", RouteModeCanary, func(f *fixture) {
			f.releases.EXPECT().Get(gomock.Any(), ns, "carts-primary").Return(primaryV1, nil)
			f.releases.EXPECT().Get(gomock.Any(), ns, "carts-canary").Return(canaryV2, nil)
			f.scaler.EXPECT().ScaleUpFromZero(gomock.Any(), gomock.Any()).Return(errors.New("forbidden"))
		}, "errored", "", "canary of carts: forbidden"},
		{"unreadable primary", RouteModeCanary, func(f *fixture) {
			f.releases.EXPECT().Get(gomock.Any(), ns, "carts-primary").Return(nil, errors.New("forbidden"))
		}, "errored", "", "forbidden"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := settings
			s.RouteMode = c.mode
			f := newFixtureWith(t, s, lifecycleSettings)
			f.charts.EXPECT().Load(gomock.Any(), gomock.Any()).Return(testChart(), nil)
			f.namespaces.EXPECT().Ensure(gomock.Any(), ns, gomock.Any()).Return(nil)
			c.expect(f)
			in := validTrigger()
			in["deployment"] = map[string]any{"deploymentstrategy": "duplicate"}
			f.deliver(triggerEvent(t, in))
			_, data := f.published.finished(t)
			if data.Status != c.wantStatus || !strings.Contains(data.Message, c.wantMsg) {
				t.Fatalf("finished %s: %q, want %s containing %q", data.Status, data.Message, c.wantStatus, c.wantMsg)
			}
			if c.wantStatus != events.StatusSucceeded {
				return
			}
			d := data.Deployment
			if d.DeploymentStrategy != "blue_green_service" || fmt.Sprint(d.DeploymentNames) != "[canary]" || fmt.Sprint(d.DeploymentURIsLocal) != "["+c.wantURI+"]" || d.ReleaseName != "carts-canary" {
				t.Errorf("deployment = %+v", d)
			}
		})
	}
}
