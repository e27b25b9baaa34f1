package handler

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/golang/mock/gomock"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/helm-service/helm-service/eventbus"
	"github.com/helm-service/helm-service/handler/mocks"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
	"github.com/helm-service/helm-service/pkg/tracing"
)

// natsRig is a real NATS server in JetStream mode, a bus on it, and a
// plain connection that collects every answer helm-service publishes.
type natsRig struct {
	bus *eventbus.Bus
	nc  *nats.Conn

	mu      sync.Mutex
	answers []cloudevents.Event
}

func newNATSRig(t *testing.T, subjects ...string) *natsRig {
	t.Helper()
	ns, err := eventbus.StartEmbedded(eventbus.EmbeddedOptions{Listen: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	bus, err := eventbus.Connect(context.Background(), eventbus.Options{URL: ns.ClientURL(), Mode: eventbus.ModeJetStream, AckWait: 5 * time.Second, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	r := &natsRig{bus: bus, nc: nc}
	for _, subject := range append([]string{"sh.keptn.event.*.started", "sh.keptn.event.*.finished"}, subjects...) {
		if _, err := nc.Subscribe(subject, func(m *nats.Msg) {
			var e cloudevents.Event
			if json.Unmarshal(m.Data, &e) == nil {
				r.mu.Lock()
				r.answers = append(r.answers, e)
				r.mu.Unlock()
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return r
}

// serve subscribes the dispatcher to its subjects on the bus.
func (r *natsRig) serve(t *testing.T, d *Dispatcher) {
	t.Helper()
	if err := r.bus.Subscribe(context.Background(), d.Subjects(), "helm-service", d.Handle); err != nil {
		t.Fatal(err)
	}
}

// send publishes e on core NATS, as Keptn's producers do, and waits for
// its .finished.
func (r *natsRig) send(t *testing.T, e *cloudevents.Event) cloudevents.Event {
	t.Helper()
	return r.answerTo(t, e, "sh.keptn.event.deployment.finished")
}

// answerTo publishes e on core NATS and waits for helm-service's answer of
// finishedType to it.
func (r *natsRig) answerTo(t *testing.T, e *cloudevents.Event, finishedType string) cloudevents.Event {
	t.Helper()
	body, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.nc.Publish(e.Type(), body); err != nil {
		t.Fatal(err)
	}
	var finished cloudevents.Event
	eventually(t, "the trigger is answered", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, a := range r.answers {
			if a.Type() == finishedType && a.Source() == "helm-service" && events.StringExtension(a, events.ExtTriggeredID) == e.ID() {
				finished = a
				return true
			}
		}
		return false
	})
	return finished
}

// ofType returns the answers of one type.
func (r *natsRig) ofType(eventType string) []cloudevents.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []cloudevents.Event
	for _, a := range r.answers {
		if a.Type() == eventType {
			out = append(out, a)
		}
	}
	return out
}

// incoming is the span context of the producer of a trigger.
var incoming = trace.NewSpanContext(trace.SpanContextConfig{
	TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
	SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
	TraceFlags: trace.FlagsSampled,
})

func tracedTrigger(t *testing.T, data map[string]any) *cloudevents.Event {
	e := triggerEvent(t, data)
	e.SetExtension(tracing.ExtTraceParent, "00-"+incoming.TraceID().String()+"-"+incoming.SpanID().String()+"-01")
	e.SetExtension(tracing.ExtTraceState, "vendor=value")
	return e
}

// spansByName indexes the ended spans, once the task span ended (just
// after the trigger is acknowledged); a name may occur more than once.
func spansByName(t *testing.T, exporter *tracetest.InMemoryExporter) map[string][]tracetest.SpanStub {
	t.Helper()
	eventually(t, "the task span ends", func() bool {
		for _, s := range exporter.GetSpans() {
			if s.Name == "deployment.triggered" {
				return true
			}
		}
		return false
	})
	out := map[string][]tracetest.SpanStub{}
	for _, s := range exporter.GetSpans() {
		out[s.Name] = append(out[s.Name], s)
	}
	return out
}

// TestTaskSpansContinueTheTriggersTrace runs a first blue/green deployment
// through the dispatcher on a real NATS server, with a trigger carrying a
// W3C traceparent, and checks the span tree and the answers' traceparent.
func TestTaskSpansContinueTheTriggersTrace(t *testing.T) {
	exporter := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	rig := newNATSRig(t)

	ctrl := gomock.NewController(t)
	src, nss, rels, router := mocks.NewMockChartSource(ctrl), mocks.NewMockNamespaces(ctrl), mocks.NewMockReleases(ctrl), mocks.NewMockRouter(ctrl)
	src.EXPECT().Load(gomock.Any(), gomock.Any()).Return(testChart(), nil)
	nss.EXPECT().Ensure(gomock.Any(), "sockshop-staging", gomock.Any()).Return(nil)
	rels.EXPECT().Get(gomock.Any(), "sockshop-staging", gomock.Any()).Return(nil, helm.ErrNotFound).Times(2)
	rels.EXPECT().Upgrade(gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, req helm.Request) (*helm.Result, error) {
		return &helm.Result{Namespace: req.Namespace, Name: req.Name, Revision: 1, Services: []helm.Service{{Name: req.Name, Namespace: req.Namespace, Port: 80}}}, nil
	}).Times(2)
	router.EXPECT().Route(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil)
	d := NewDispatcher("helm-service", rig.bus, quiet, []Task{NewDeployment(src, nss, rels, router, mocks.NewMockScaler(ctrl), settings)}, Options{TracerProvider: tp})
	rig.serve(t, d)

	data := validTrigger()
	data["deployment"] = map[string]any{"deploymentstrategy": "blue_green_service"}
	finished := rig.send(t, tracedTrigger(t, data))

	spans := spansByName(t, exporter)
	tasks := spans["deployment.triggered"]
	if len(tasks) != 1 {
		t.Fatalf("%d deployment.triggered spans, want 1; spans: %v", len(tasks), names(spans))
	}
	task := tasks[0]
	if task.Parent.SpanID() != incoming.SpanID() || task.SpanContext.TraceID() != incoming.TraceID() || !task.Parent.IsRemote() {
		t.Errorf("task span: trace %s parent %s (remote %v), want trace %s parent %s, remote",
			task.SpanContext.TraceID(), task.Parent.SpanID(), task.Parent.IsRemote(), incoming.TraceID(), incoming.SpanID())
	}
	if got := task.SpanContext.TraceState().Get("vendor"); got != "value" {
		t.Errorf("task span tracestate vendor = %q, want the trigger's", got)
	}
	if task.SpanKind != trace.SpanKindConsumer || task.Status.Code == codes.Error {
		t.Errorf("task span kind %s status %v", task.SpanKind, task.Status)
	}
	attrs := map[string]string{}
	for _, a := range task.Attributes {
		attrs[string(a.Key)] = a.Value.String()
	}
	for k, want := range map[string]string{
		"keptn.context": "keptn-context", "keptn.triggeredid": "trigger-id", "keptn.project": "sockshop",
		"keptn.stage": "staging", "keptn.service": "carts", "k8s.namespace.name": "sockshop-staging", "helm.release": "carts",
		"keptn.status": "succeeded", "keptn.result": "pass",
	} {
		if attrs[k] != want {
			t.Errorf("task span attribute %s = %q, want %q", k, attrs[k], want)
		}
	}

	for name, want := range map[string]int{
		"chart.load": 1, "values.merge": 1, "helm.get": 2, "helm.install": 2, "routing.route": 1,
		"publish deployment.started": 1, "publish deployment.finished": 1,
	} {
		got := spans[name]
		if len(got) != want {
			t.Errorf("%d %s spans, want %d; spans: %v", len(got), name, want, names(spans))
			continue
		}
		for _, s := range got {
			if s.Parent.SpanID() != task.SpanContext.SpanID() || s.SpanContext.TraceID() != incoming.TraceID() {
				t.Errorf("%s span: parent %s trace %s, want the task span %s", name, s.Parent.SpanID(), s.SpanContext.TraceID(), task.SpanContext.SpanID())
			}
			if !s.StartTime.After(task.StartTime) && !s.StartTime.Equal(task.StartTime) || s.EndTime.After(task.EndTime) {
				t.Errorf("%s span [%s, %s] is not within the task span [%s, %s]", name, s.StartTime, s.EndTime, task.StartTime, task.EndTime)
			}
		}
	}

	// The answers continue the trace: their parent is the span that
	// published them, a child of the task span.
	for _, e := range []cloudevents.Event{rig.ofType("sh.keptn.event.deployment.started")[0], finished} {
		ctx := tracing.FromEvent(context.Background(), e)
		sc := trace.SpanContextFromContext(ctx)
		if !sc.IsValid() || sc.TraceID() != incoming.TraceID() {
			t.Fatalf("%s traceparent %v: want trace %s", e.Type(), e.Extensions()[tracing.ExtTraceParent], incoming.TraceID())
		}
		publish := spans["publish "+e.Type()[len("sh.keptn.event."):]][0]
		if sc.SpanID() != publish.SpanContext.SpanID() {
			t.Errorf("%s traceparent span %s, want its publish span %s", e.Type(), sc.SpanID(), publish.SpanContext.SpanID())
		}
	}
}

// TestTaskSpanNamesTheTemplatesNamespace checks that the task span's
// k8s.namespace.name is the namespace NAMESPACE_TEMPLATE gives, the one the
// release is deployed to.
func TestTaskSpanNamesTheTemplatesNamespace(t *testing.T) {
	exporter := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	rig := newNATSRig(t)
	tmpl, err := kube.ParseNamespaceTemplate("{{.Stage}}-{{.Project}}")
	if err != nil {
		t.Fatal(err)
	}

	ctrl := gomock.NewController(t)
	src, nss, rels := mocks.NewMockChartSource(ctrl), mocks.NewMockNamespaces(ctrl), mocks.NewMockReleases(ctrl)
	src.EXPECT().Load(gomock.Any(), gomock.Any()).Return(testChart(), nil)
	nss.EXPECT().Ensure(gomock.Any(), "staging-sockshop", gomock.Any()).Return(nil)
	rels.EXPECT().Get(gomock.Any(), "staging-sockshop", "carts").Return(nil, helm.ErrNotFound)
	rels.EXPECT().Upgrade(gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, req helm.Request) (*helm.Result, error) {
		return &helm.Result{Namespace: req.Namespace, Name: req.Name, Revision: 1}, nil
	})
	d := NewDispatcher("helm-service", rig.bus, quiet, []Task{NewDeployment(src, nss, rels, mocks.NewMockRouter(ctrl), mocks.NewMockScaler(ctrl), settings)}, Options{TracerProvider: tp, NamespaceTemplate: tmpl})
	rig.serve(t, d)
	rig.send(t, tracedTrigger(t, validTrigger()))

	spans := spansByName(t, exporter)
	for _, name := range []string{"deployment.triggered", "helm.install"} {
		if len(spans[name]) != 1 {
			t.Fatalf("%d %s spans, want 1; spans: %v", len(spans[name]), name, names(spans))
		}
		got := "(none)"
		for _, a := range spans[name][0].Attributes {
			if a.Key == "k8s.namespace.name" {
				got = a.Value.String()
			}
		}
		if got != "staging-sockshop" {
			t.Errorf("%s span: k8s.namespace.name = %q, want the template's namespace staging-sockshop", name, got)
		}
	}
}

// TestFailedTaskSpans checks that a failed Helm action marks its span and
// the task span failed, with the error recorded.
func TestFailedTaskSpans(t *testing.T) {
	exporter := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	rig := newNATSRig(t)

	ctrl := gomock.NewController(t)
	src, nss, rels := mocks.NewMockChartSource(ctrl), mocks.NewMockNamespaces(ctrl), mocks.NewMockReleases(ctrl)
	src.EXPECT().Load(gomock.Any(), gomock.Any()).Return(testChart(), nil)
	nss.EXPECT().Ensure(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil)
	rels.EXPECT().Get(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil, helm.ErrNotFound)
	rels.EXPECT().Upgrade(gomock.Any(), gomock.Any()).Return(nil, errors.New("helm install of release sockshop-staging/carts: context deadline exceeded"))
	d := NewDispatcher("helm-service", rig.bus, quiet, []Task{NewDeployment(src, nss, rels, mocks.NewMockRouter(ctrl), mocks.NewMockScaler(ctrl), settings)}, Options{TracerProvider: tp})
	rig.serve(t, d)
	rig.send(t, tracedTrigger(t, validTrigger()))

	spans := spansByName(t, exporter)
	for _, name := range []string{"deployment.triggered", "helm.upgrade"} {
		if len(spans[name]) != 1 {
			t.Fatalf("%d %s spans, want 1; spans: %v", len(spans[name]), name, names(spans))
		}
		s := spans[name][0]
		if s.Status.Code != codes.Error || s.Status.Description == "" {
			t.Errorf("%s span status %v, want an error with its message", name, s.Status)
		}
	}
	if ev := spans["helm.upgrade"][0].Events; len(ev) != 1 || ev[0].Name != "exception" {
		t.Errorf("helm.upgrade span events %v, want the error recorded", ev)
	}
}

func names(spans map[string][]tracetest.SpanStub) []string {
	var out []string
	for n, s := range spans {
		for range s {
			out = append(out, n)
		}
	}
	return out
}
