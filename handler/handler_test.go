package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/golang/mock/gomock"
	"helm.sh/helm/v3/pkg/chart"

	"github.com/helm-service/helm-service/eventbus"
	"github.com/helm-service/helm-service/handler/mocks"
	"github.com/helm-service/helm-service/pkg/charts"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
	"github.com/helm-service/helm-service/pkg/vargroups"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

var settings = DeploymentSettings{
	WaitTimeout:       time.Minute,
	PublicURITemplate: "${INGRESS_PROTOCOL}://${SERVICE}.${PROJECT}-${STAGE}.${INGRESS_HOSTNAME_SUFFIX}:${INGRESS_PORT}",
	IngressProtocol:   "http",
	IngressSuffix:     "example.com",
	IngressPort:       "80",
	RouteMode:         RouteModeCanary,
}

var lifecycleSettings = LifecycleSettings{WaitTimeout: time.Minute, RollbackDirectOnFail: true}

// recorder collects what the dispatcher publishes.
type recorder struct {
	mu     sync.Mutex
	events []cloudevents.Event
}

func (r *recorder) expect(pub *mocks.MockPublisher) {
	pub.EXPECT().Publish(gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, e cloudevents.Event) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.events = append(r.events, e)
		return nil
	}).AnyTimes()
}

// finished returns the one .finished event and checks that exactly one
// .started came before it.
func (r *recorder) finished(t *testing.T) (cloudevents.Event, events.DeploymentFinished) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.events) != 2 {
		t.Fatalf("published %d events, want .started and .finished", len(r.events))
	}
	if got := r.events[0].Type(); got != "sh.keptn.event.deployment.started" {
		t.Fatalf("first event is %s, want .started", got)
	}
	f := r.events[1]
	if f.Type() != "sh.keptn.event.deployment.finished" {
		t.Fatalf("second event is %s, want .finished", f.Type())
	}
	var data events.DeploymentFinished
	if err := json.Unmarshal(f.Data(), &data); err != nil {
		t.Fatalf("finished data %s: %v", f.Data(), err)
	}
	return f, data
}

func triggerEvent(t testing.TB, data any) *cloudevents.Event {
	t.Helper()
	e := cloudevents.NewEvent()
	e.SetID("trigger-id")
	e.SetSource("shipyard-controller")
	e.SetType("sh.keptn.event.deployment.triggered")
	e.SetExtension(events.ExtContext, "keptn-context")
	var err error
	if raw, ok := data.(string); ok {
		err = e.SetData(cloudevents.ApplicationJSON, []byte(raw))
	} else {
		err = e.SetData(cloudevents.ApplicationJSON, data)
	}
	if err != nil {
		t.Fatal(err)
	}
	return &e
}

func validTrigger() map[string]any {
	return map[string]any{
		"project": "sockshop", "stage": "staging", "service": "carts",
		"labels":              map[string]string{"owner": "ops"},
		"configurationChange": map[string]any{"values": map[string]any{"image": "carts:2", "service": map[string]any{"port": 8080}}},
		"deployment":          map[string]any{"deploymentstrategy": "direct"},
	}
}

func testChart() *chart.Chart {
	return &chart.Chart{
		Metadata: &chart.Metadata{Name: "carts", Version: "0.1.0"},
		Values:   map[string]any{"image": "carts:1", "replicaCount": 2, "service": map[string]any{"port": 80, "type": "ClusterIP"}},
	}
}

type fixture struct {
	charts     *mocks.MockChartSource
	namespaces *mocks.MockNamespaces
	releases   *mocks.MockReleases
	router     *mocks.MockRouter
	scaler     *mocks.MockScaler
	published  *recorder
	dispatcher *Dispatcher
	deployment *Deployment
	release    *Release
	removal    *ServiceDelete
	ctrl       *gomock.Controller
	// pub and tasks make the dispatcher (see redispatch).
	pub   Publisher
	tasks []Task
}

// deleteSettings are the fixture's removal settings: the control plane's
// source, empty namespaces deleted.
var deleteSettings = ServiceDeleteSettings{WaitTimeout: time.Minute, DeleteEmptyNamespaces: true, EventSources: []string{"shipyard-controller"}}

func newFixture(t *testing.T) *fixture {
	return newFixtureWith(t, settings, lifecycleSettings)
}

func newFixtureWith(t *testing.T, settings DeploymentSettings, lifecycleSettings LifecycleSettings) *fixture {
	return newFixtureOf(t, settings, lifecycleSettings, deleteSettings, nil)
}

// newFixtureIn is newFixtureWith with the dispatcher's namespace template.
func newFixtureIn(t *testing.T, tmpl *kube.NamespaceTemplate, settings DeploymentSettings, lifecycleSettings LifecycleSettings) *fixture {
	return newFixtureOf(t, settings, lifecycleSettings, deleteSettings, tmpl)
}

func newFixtureOf(t *testing.T, settings DeploymentSettings, lifecycleSettings LifecycleSettings, removal ServiceDeleteSettings, tmpl *kube.NamespaceTemplate) *fixture {
	ctrl := gomock.NewController(t)
	f := &fixture{
		charts:     mocks.NewMockChartSource(ctrl),
		namespaces: mocks.NewMockNamespaces(ctrl),
		releases:   mocks.NewMockReleases(ctrl),
		router:     mocks.NewMockRouter(ctrl),
		scaler:     mocks.NewMockScaler(ctrl),
		published:  &recorder{},
	}
	pub := mocks.NewMockPublisher(ctrl)
	f.published.expect(pub)
	dep := NewDeployment(f.charts, f.namespaces, f.releases, f.router, f.scaler, settings)
	rel := NewRelease(f.releases, f.router, f.scaler, lifecycleSettings)
	rb := NewRollback(f.releases, f.router, f.scaler, lifecycleSettings)
	act := NewAction(f.releases, f.router, f.scaler, nil, ActionSettings{MaxReplicas: 10, WaitTimeout: time.Minute})
	del := NewServiceDelete(f.releases, f.router, f.namespaces, removal)
	f.pub, f.tasks = pub, []Task{dep, rel, rb, act, del}
	f.dispatcher = NewDispatcher("helm-service", pub, quiet, f.tasks, Options{NamespaceTemplate: tmpl})
	f.deployment, f.release, f.removal, f.ctrl = dep, rel, del, ctrl
	return f
}

// redispatch replaces the fixture's dispatcher with one of the same tasks
// and these options.
func (f *fixture) redispatch(opts Options) {
	f.dispatcher = NewDispatcher("helm-service", f.pub, quiet, f.tasks, opts)
}

func (f *fixture) deliver(e *cloudevents.Event) {
	f.dispatcher.Handle(context.Background(), eventbus.Delivery{Subject: e.Type(), Event: e})
}

func TestDeploymentDirect(t *testing.T) {
	f := newFixture(t)
	f.charts.EXPECT().Load(gomock.Any(), charts.Ref{Project: "sockshop", Stage: "staging", Service: "carts"}).Return(testChart(), nil)
	f.namespaces.EXPECT().Ensure(gomock.Any(), "sockshop-staging", gomock.Any()).Return(nil)
	live := kube.Workload{Kind: "Deployment", Namespace: "sockshop-staging", Name: "carts"}
	f.releases.EXPECT().Get(gomock.Any(), "sockshop-staging", "carts").Return(&helm.Record{Result: helm.Result{Namespace: "sockshop-staging", Name: "carts", Workloads: []kube.Workload{live}}}, nil)
	f.scaler.EXPECT().Kept(gomock.Any(), []kube.Workload{live}).Return(map[kube.Workload]int32{live: 5}, nil)
	f.scaler.EXPECT().Autoscaler(gomock.Any(), live).Return("", nil)
	f.releases.EXPECT().Upgrade(gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, req helm.Request) (*helm.Result, error) {
		if req.Namespace != "sockshop-staging" || req.Name != "carts" || req.Timeout != time.Minute {
			t.Errorf("request target = %s/%s timeout %s", req.Namespace, req.Name, req.Timeout)
		}
		if len(req.Replicas) != 1 || req.Replicas[live] != 5 {
			t.Errorf("replicas set by scaling not kept: %v", req.Replicas)
		}
		if req.Values["image"] != "carts:2" || req.Values["replicaCount"] != 2 {
			t.Errorf("values not merged: %v", req.Values)
		}
		if svc := req.Values["service"].(map[string]any); svc["port"] != float64(8080) || svc["type"] != "ClusterIP" {
			t.Errorf("nested values not deep-merged: %v", svc)
		}
		keptn, _ := req.Values["keptn"].(map[string]any)
		if keptn["project"] != "sockshop" || keptn["stage"] != "staging" || keptn["service"] != "carts" || keptn["deployment"] != "carts" {
			t.Errorf("keptn values = %v", keptn)
		}
		if req.Labels[kube.LabelService] != "carts" || req.Labels[kube.LabelProject] != "sockshop" || req.Labels[kube.LabelStage] != "staging" ||
			req.Labels[kube.LabelStrategy] != "direct" || req.Labels[kube.LabelContext] != "keptn-context" {
			t.Errorf("release labels = %v", req.Labels)
		}
		return &helm.Result{Namespace: req.Namespace, Name: req.Name, Revision: 3, Services: []helm.Service{{Name: "carts", Namespace: req.Namespace, Port: 8080}}}, nil
	})
	f.deliver(triggerEvent(t, validTrigger()))

	ev, data := f.published.finished(t)
	if data.Status != events.StatusSucceeded || data.Result != events.ResultPass {
		t.Fatalf("finished %s/%s: %s", data.Status, data.Result, data.Message)
	}
	if events.StringExtension(ev, events.ExtTriggeredID) != "trigger-id" || events.StringExtension(ev, events.ExtContext) != "keptn-context" {
		t.Errorf("reply extensions = %v", ev.Extensions())
	}
	if data.Project != "sockshop" || data.Labels["owner"] != "ops" {
		t.Errorf("common part not copied: %+v", data.Common)
	}
	d := data.Deployment
	want := events.Deployment{
		DeploymentStrategy:   "direct",
		DeploymentURIsLocal:  []string{"http://carts.sockshop-staging:8080"},
		DeploymentURIsPublic: []string{"http://carts.sockshop-staging.example.com:80"},
		DeploymentNames:      []string{"direct"},
		Namespace:            "sockshop-staging",
		ReleaseName:          "carts",
		HelmRevision:         3,
	}
	if fmt.Sprint(*d) != fmt.Sprint(want) {
		t.Errorf("deployment = %+v\nwant        %+v", *d, want)
	}
}

func TestDeploymentWritesVariablesBeforeTheUpgrade(t *testing.T) {
	f := newFixture(t)
	vars := mocks.NewMockVariables(f.ctrl)
	f.deployment.WithVariables(vars)
	in := validTrigger()
	in["deployment"] = map[string]any{"deploymentstrategy": "direct",
		"variables": map[string]any{"DB_PASSWORD": "s3cret", "OLD": nil}, "globalVariables": map[string]any{"REGION": "eu"}}
	f.charts.EXPECT().Load(gomock.Any(), gomock.Any()).Return(testChart(), nil)
	f.namespaces.EXPECT().Ensure(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil)
	groups := vargroups.Groups{Service: map[string][]byte{"DB_PASSWORD": []byte("s3cret")}, Global: map[string][]byte{"REGION": []byte("eu")}}
	applied := vars.EXPECT().Apply(gomock.Any(), "sockshop-staging", "carts", gomock.Any(), gomock.Any()).DoAndReturn(
		func(_ context.Context, _, _ string, global, svc vargroups.Changes) ([]string, vargroups.Groups, error) {
			if len(global) != 1 || *global["REGION"] != "eu" || len(svc) != 2 || *svc["DB_PASSWORD"] != "s3cret" || svc["OLD"] != nil {
				t.Errorf("changes: global %v, service %v", global, svc)
			}
			return []string{"global.REGION", "service.DB_PASSWORD", "service.OLD"}, groups, nil
		})
	f.releases.EXPECT().Get(gomock.Any(), "sockshop-staging", "carts").Return(nil, helm.ErrNotFound).After(applied)
	f.releases.EXPECT().Upgrade(gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, req helm.Request) (*helm.Result, error) {
		want := helm.VariablesPostRenderer{Secrets: []string{"helm-service-vars", "helm-service-vars-carts"}, Checksum: groups.Checksum()}
		if req.Variables == nil || fmt.Sprint(*req.Variables) != fmt.Sprint(want) {
			t.Errorf("request variables = %+v, want %+v", req.Variables, want)
		}
		return &helm.Result{Name: req.Name, Namespace: req.Namespace, Revision: 1}, nil
	}).After(applied)
	f.deliver(triggerEvent(t, in))
	ev, data := f.published.finished(t)
	if data.Status != events.StatusSucceeded {
		t.Fatalf("finished %s: %s", data.Status, data.Message)
	}
	if got := strings.Join(data.Deployment.ChangedVariables, ","); got != "global.REGION,service.DB_PASSWORD,service.OLD" {
		t.Errorf("changedVariables = %s", got)
	}
	if strings.Contains(string(ev.Data()), "s3cret") {
		t.Error(".finished contains a variable value")
	}
}

func TestDeploymentUserManagedKeepsChartValues(t *testing.T) {
	f := newFixture(t)
	in := validTrigger()
	in["deployment"] = map[string]any{"deploymentstrategy": "user_managed"}
	f.charts.EXPECT().Load(gomock.Any(), gomock.Any()).Return(testChart(), nil)
	f.namespaces.EXPECT().Ensure(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil)
	f.releases.EXPECT().Get(gomock.Any(), "sockshop-staging", "carts").Return(nil, helm.ErrNotFound)
	f.releases.EXPECT().Upgrade(gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, req helm.Request) (*helm.Result, error) {
		if _, ok := req.Values["keptn"]; ok {
			t.Errorf("user_managed release got keptn values: %v", req.Values)
		}
		return &helm.Result{Name: req.Name, Namespace: req.Namespace, Revision: 1}, nil
	})
	f.deliver(triggerEvent(t, in))
	_, data := f.published.finished(t)
	if data.Status != events.StatusSucceeded || data.Deployment.DeploymentStrategy != "user_managed" {
		t.Fatalf("finished = %+v %+v", data.Common, data.Deployment)
	}
	if data.Deployment.DeploymentURIsLocal == nil || len(data.Deployment.DeploymentURIsLocal) != 0 {
		t.Errorf("a chart without Service must give an empty (not null) URI list, got %#v", data.Deployment.DeploymentURIsLocal)
	}
}

func TestDeploymentBadInput(t *testing.T) {
	with := func(mutate func(map[string]any)) map[string]any {
		m := validTrigger()
		mutate(m)
		return m
	}
	cases := []struct {
		name string
		data any
		want string
	}{
		{"malformed JSON", `{"project": "sockshop", "stage": `, "data of sh.keptn.event.deployment.triggered is not valid"},
		{"wrong type", `{"project": "sockshop", "stage": "s", "service": "c", "configurationChange": {"values": "image=x"}}`, "field configurationChange.values"},
		{"empty data", ``, "data of sh.keptn.event.deployment.triggered is empty"},
		{"missing project", with(func(m map[string]any) { delete(m, "project") }), "project is missing"},
		{"missing service", with(func(m map[string]any) { m["service"] = "" }), "service is missing"},
		{"invalid stage", with(func(m map[string]any) { m["stage"] = "Prod_EU" }), `stage "Prod_EU" is not a valid Kubernetes name`},
		{"unknown strategy", with(func(m map[string]any) { m["deployment"] = map[string]any{"deploymentstrategy": "rolling"} }), `deployment.deploymentstrategy "rolling" is not a known strategy`},
		{"blue green service too long", with(func(m map[string]any) {
			m["service"] = strings.Repeat("s", 50)
			m["deployment"] = map[string]any{"deploymentstrategy": "duplicate"}
		}), "too long for blue_green_service"},
		{"variable not a string", with(func(m map[string]any) {
			m["deployment"] = map[string]any{"deploymentstrategy": "direct", "variables": map[string]any{"PORT": 8080}}
		}), "field deployment.variables.PORT: got a JSON number, want a string"},
		{"global variable bad name", with(func(m map[string]any) {
			m["deployment"] = map[string]any{"deploymentstrategy": "direct", "globalVariables": map[string]any{"MY-VAR": "x"}}
		}), `field deployment.globalVariables: "MY-VAR" is not a valid variable name`},
		{"variables not an object", with(func(m map[string]any) {
			m["deployment"] = map[string]any{"deploymentstrategy": "direct", "variables": "A=b"}
		}), "field deployment.variables"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t) // no EXPECT on charts, namespaces or releases: touching them fails the test
			f.deliver(triggerEvent(t, c.data))
			_, data := f.published.finished(t)
			if data.Status != events.StatusErrored || data.Result != events.ResultFail {
				t.Errorf("status/result = %s/%s, want errored/fail", data.Status, data.Result)
			}
			if !strings.Contains(data.Message, c.want) {
				t.Errorf("message %q does not contain %q", data.Message, c.want)
			}
		})
	}
}

func TestDeploymentCollaboratorErrors(t *testing.T) {
	t.Run("missing chart", func(t *testing.T) {
		f := newFixture(t)
		f.charts.EXPECT().Load(gomock.Any(), gomock.Any()).Return(nil, fmt.Errorf("%w for service %q: looked at charts/carts", charts.ErrNotFound, "carts"))
		f.deliver(triggerEvent(t, validTrigger()))
		_, data := f.published.finished(t)
		if data.Status != events.StatusErrored || !strings.Contains(data.Message, "chart not found for service \"carts\"") {
			t.Errorf("finished = %+v", data.Common)
		}
	})
	t.Run("helm fails", func(t *testing.T) {
		f := newFixture(t)
		f.charts.EXPECT().Load(gomock.Any(), gomock.Any()).Return(testChart(), nil)
		f.namespaces.EXPECT().Ensure(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil)
		f.releases.EXPECT().Get(gomock.Any(), "sockshop-staging", "carts").Return(nil, helm.ErrNotFound)
		f.releases.EXPECT().Upgrade(gomock.Any(), gomock.Any()).Return(nil, errors.New("helm upgrade of release sockshop-staging/carts: context deadline exceeded; not ready: deployment sockshop-staging/carts: 0 of 2 replicas updated"))
		f.deliver(triggerEvent(t, validTrigger()))
		_, data := f.published.finished(t)
		if data.Status != events.StatusErrored || !strings.Contains(data.Message, "not ready: deployment sockshop-staging/carts") {
			t.Errorf("finished = %+v", data.Common)
		}
	})
	t.Run("panic is recovered", func(t *testing.T) {
		f := newFixture(t)
		f.charts.EXPECT().Load(gomock.Any(), gomock.Any()).Return(testChart(), nil)
		f.namespaces.EXPECT().Ensure(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil)
		f.releases.EXPECT().Get(gomock.Any(), "sockshop-staging", "carts").Return(nil, helm.ErrNotFound)
		f.releases.EXPECT().Upgrade(gomock.Any(), gomock.Any()).DoAndReturn(func(context.Context, helm.Request) (*helm.Result, error) {
			panic("boom")
		})
		f.deliver(triggerEvent(t, validTrigger()))
		_, data := f.published.finished(t)
		if data.Status != events.StatusErrored || !strings.Contains(data.Message, "internal error") || !strings.Contains(data.Message, "boom") {
			t.Errorf("finished = %+v", data.Common)
		}
	})
	t.Run("no cluster", func(t *testing.T) {
		ctrl := gomock.NewController(t)
		pub := mocks.NewMockPublisher(ctrl)
		rec := &recorder{}
		rec.expect(pub)
		d := NewDispatcher("helm-service", pub, quiet, []Task{NewDeployment(mocks.NewMockChartSource(ctrl), nil, nil, nil, nil, settings)}, Options{})
		e := triggerEvent(t, validTrigger())
		d.Handle(context.Background(), eventbus.Delivery{Subject: e.Type(), Event: e})
		_, data := rec.finished(t)
		if data.Status != events.StatusErrored || !strings.Contains(data.Message, "no Kubernetes cluster configured") {
			t.Errorf("finished = %+v", data.Common)
		}
	})
}

func TestDispatcherIgnoresOwnEvents(t *testing.T) {
	f := newFixture(t)
	e := triggerEvent(t, validTrigger())
	e.SetSource("helm-service")
	f.deliver(e)
	if n := len(f.published.events); n != 0 {
		t.Errorf("published %d events in answer to our own event", n)
	}
}

func TestDispatcherAnswersMalformedCloudEvent(t *testing.T) {
	f := newFixture(t)
	raw := []byte(`{"specversion":"0.1","id":"bad-1","shkeptncontext":"ctx-9","data":{"project":"sockshop","stage":"staging","service":"carts"}}`)
	f.dispatcher.Handle(context.Background(), eventbus.Delivery{
		Subject: "sh.keptn.event.deployment.triggered", Raw: raw, DecodeErr: errors.New("specversion: unknown value 0.1"),
	})
	ev, data := f.published.finished(t)
	if data.Status != events.StatusErrored || !strings.Contains(data.Message, "not a valid CloudEvent") || !strings.Contains(data.Message, "specversion") {
		t.Errorf("finished = %+v", data.Common)
	}
	if events.StringExtension(ev, events.ExtTriggeredID) != "bad-1" || events.StringExtension(ev, events.ExtContext) != "ctx-9" || data.Service != "carts" {
		t.Errorf("salvaged reply = %v %+v", ev.Extensions(), data.Common)
	}

	f = newFixture(t)
	f.dispatcher.Handle(context.Background(), eventbus.Delivery{Subject: "sh.keptn.event.deployment.triggered", Raw: []byte("not json"), DecodeErr: errors.New("invalid character")})
	_, data = f.published.finished(t)
	if !strings.Contains(data.Message, "not a JSON CloudEvent") {
		t.Errorf("message = %q", data.Message)
	}
}
