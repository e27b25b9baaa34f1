package handler

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"helm.sh/helm/v3/pkg/chart"

	"github.com/helm-service/helm-service/pkg/charts"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/routing"
	"github.com/helm-service/helm-service/pkg/timings"
	"github.com/helm-service/helm-service/pkg/tracing"
)

// Span attributes of a task.
const (
	attrContext   = attribute.Key("keptn.context")
	attrTriggered = attribute.Key("keptn.triggeredid")
	attrProject   = attribute.Key("keptn.project")
	attrStage     = attribute.Key("keptn.stage")
	attrService   = attribute.Key("keptn.service")
	attrNamespace = attribute.Key("k8s.namespace.name")
	attrRelease   = attribute.Key("helm.release")
	attrEventType = attribute.Key("cloudevents.event_type")
	attrEventID   = attribute.Key("cloudevents.event_id")
)

// startTask starts the span of a task, continuing the trace of the
// trigger's traceparent, and adds its trace id to the task's logger.
func (d *Dispatcher) startTask(ctx context.Context, subject string, t *Trigger) (context.Context, trace.Span) {
	c := t.Common
	attrs := []attribute.KeyValue{
		attrContext.String(events.StringExtension(t.Event, events.ExtContext)),
		attrTriggered.String(t.Event.ID()),
		attrEventType.String(t.Event.Type()),
		attrProject.String(c.Project), attrStage.String(c.Stage), attrService.String(c.Service),
	}
	if t.Target.Namespace != "" {
		// The namespace the task works in; a trigger the template cannot
		// name one for is answered errored, and its span has none.
		attrs = append(attrs, attrNamespace.String(t.Target.Namespace))
	}
	if c.Service != "" {
		attrs = append(attrs, attrRelease.String(c.Service))
	}
	ctx = tracing.FromEvent(ctx, t.Event)
	ctx, span := d.tracer.Start(ctx, strings.TrimPrefix(subject, events.Prefix),
		trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...))
	if sc := span.SpanContext(); sc.IsSampled() {
		t.Log = t.Log.With("traceid", sc.TraceID().String())
	}
	return ctx, span
}

// tracedPublish publishes e in a span of its own, child of the task's,
// whose context e carries as its traceparent. A .finished also sets the
// task span's status from its own.
func (d *Dispatcher) tracedPublish(ctx context.Context, e cloudevents.Event, publish func(context.Context, cloudevents.Event) error) error {
	if strings.HasSuffix(e.Type(), "."+events.PhaseFinished) {
		markOutcome(trace.SpanFromContext(ctx), e)
	}
	ctx, span := tracing.Start(ctx, "publish "+strings.TrimPrefix(e.Type(), events.Prefix),
		attrEventType.String(e.Type()), attrEventID.String(e.ID()))
	e = e.Clone()
	tracing.ToEvent(ctx, &e)
	err := publish(ctx, e)
	tracing.End(span, err)
	return err
}

// markOutcome sets the task span's status from a .finished event.
func markOutcome(span trace.Span, finished cloudevents.Event) {
	var c events.Common
	if err := json.Unmarshal(finished.Data(), &c); err != nil {
		return
	}
	span.SetAttributes(attribute.String("keptn.status", string(c.Status)), attribute.String("keptn.result", string(c.Result)))
	if c.Status == events.StatusErrored || c.Result == events.ResultFail {
		span.SetStatus(codes.Error, c.Message)
	}
}

// The collaborators of the tasks, each call in a span.

type tracedCharts struct{ ChartSource }

func (c tracedCharts) Load(ctx context.Context, ref charts.Ref) (*chart.Chart, error) {
	ch, _, err := c.LoadCommit(ctx, ref)
	return ch, err
}

// LoadCommit implements charts.CommitSource, whether the source reads git
// or not.
func (c tracedCharts) LoadCommit(ctx context.Context, ref charts.Ref) (*chart.Chart, string, error) {
	defer timings.Time(ctx, timings.ChartFetch)()
	ctx, span := tracing.Start(ctx, "chart.load", attrProject.String(ref.Project), attrStage.String(ref.Stage), attrService.String(ref.Service))
	ch, commit, err := charts.LoadCommit(ctx, c.ChartSource, ref)
	if err == nil && ch.Metadata != nil {
		span.SetAttributes(attribute.String("helm.chart.name", ch.Metadata.Name), attribute.String("helm.chart.version", ch.Metadata.Version))
	}
	tracing.End(span, err)
	return ch, commit, err
}

type tracedReleases struct{ Releases }

func releaseAttrs(namespace, name string) []attribute.KeyValue {
	return []attribute.KeyValue{attrNamespace.String(namespace), attrRelease.String(name)}
}

func (r tracedReleases) Upgrade(ctx context.Context, req helm.Request) (*helm.Result, error) {
	ctx, span := tracing.Start(ctx, "helm.upgrade", releaseAttrs(req.Namespace, req.Name)...)
	res, err := r.Releases.Upgrade(ctx, req)
	if err == nil {
		if res.Revision == 1 {
			span.SetName("helm.install")
		}
		span.SetAttributes(attribute.Int("helm.revision", res.Revision))
	}
	tracing.End(span, err)
	return res, err
}

func (r tracedReleases) Get(ctx context.Context, namespace, name string) (*helm.Record, error) {
	ctx, span := tracing.Start(ctx, "helm.get", releaseAttrs(namespace, name)...)
	rec, err := r.Releases.Get(ctx, namespace, name)
	if err != nil {
		span.SetAttributes(attribute.Bool("helm.release.found", false))
	}
	span.End() // a release not found is an answer, not a failure
	return rec, err
}

func (r tracedReleases) Find(ctx context.Context, namespace string, labels map[string]string) ([]*helm.Record, error) {
	ctx, span := tracing.Start(ctx, "helm.find", attrNamespace.String(namespace))
	recs, err := r.Releases.Find(ctx, namespace, labels)
	span.SetAttributes(attribute.Int("helm.releases", len(recs)))
	tracing.End(span, err)
	return recs, err
}

func (r tracedReleases) Rollback(ctx context.Context, namespace, name string, timeout time.Duration) (*helm.Result, error) {
	ctx, span := tracing.Start(ctx, "helm.rollback", releaseAttrs(namespace, name)...)
	res, err := r.Releases.Rollback(ctx, namespace, name, timeout)
	tracing.End(span, err)
	return res, err
}

func (r tracedReleases) Uninstall(ctx context.Context, namespace, name string, timeout time.Duration) error {
	ctx, span := tracing.Start(ctx, "helm.uninstall", releaseAttrs(namespace, name)...)
	err := r.Releases.Uninstall(ctx, namespace, name, timeout)
	tracing.End(span, err)
	return err
}

type tracedRouter struct{ Router }

func (r tracedRouter) Route(ctx context.Context, t routing.Target, s routing.Split) error {
	defer timings.Time(ctx, timings.Route)()
	ctx, span := tracing.Start(ctx, "routing.route", attrNamespace.String(t.Namespace), attrService.String(t.Service),
		attribute.String("routing.split", s.String()))
	err := r.Router.Route(ctx, t, s)
	tracing.End(span, err)
	return err
}

func (r tracedRouter) Remove(ctx context.Context, namespace, service string) ([]string, error) {
	defer timings.Time(ctx, timings.Route)()
	ctx, span := tracing.Start(ctx, "routing.remove", attrNamespace.String(namespace), attrService.String(service))
	removed, err := r.Router.Remove(ctx, namespace, service)
	tracing.End(span, err)
	return removed, err
}

// traced wraps the collaborators in spans, keeping nil as nil and
// NoCluster as it is: it never reaches a cluster, and the tasks look for
// it (see noCluster).
func tracedReleasesOf(r Releases) Releases {
	if r == nil || isNoCluster(r) {
		return r
	}
	return tracedReleases{r}
}

func tracedRouterOf(r Router) Router {
	if r == nil || isNoCluster(r) {
		return r
	}
	return tracedRouter{r}
}

func tracedChartsOf(c ChartSource) ChartSource {
	if c == nil {
		return nil
	}
	return tracedCharts{c}
}
