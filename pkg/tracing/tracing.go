// Package tracing is helm-service's OpenTelemetry tracing: the tracer
// provider (OTLP when enabled, a no-op otherwise), spans started from the
// provider of the span in a context, and the W3C trace context carried by
// CloudEvents in their traceparent and tracestate extensions.
package tracing

import (
	"context"
	"fmt"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Instrumentation names the tracer of helm-service's spans.
const Instrumentation = "github.com/helm-service/helm-service"

// CloudEvents extensions of the W3C trace context (the CloudEvents
// distributed tracing extension).
const (
	ExtTraceParent = "traceparent"
	ExtTraceState  = "tracestate"
)

// Settings choose the tracer provider.
type Settings struct {
	// Enabled exports spans over OTLP/gRPC to the endpoint the standard
	// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
	// names. Off, the provider is a no-op.
	Enabled bool
	// ServiceName is the resource's service.name unless OTEL_SERVICE_NAME
	// sets one.
	ServiceName string
	// Version is the resource's service.version.
	Version string
}

// NewProvider returns the tracer provider the settings ask for, and a
// shutdown function that flushes the spans not yet exported.
func NewProvider(ctx context.Context, s Settings) (trace.TracerProvider, func(context.Context) error, error) {
	if !s.Enabled {
		return noop.NewTracerProvider(), func(context.Context) error { return nil }, nil
	}
	exporter, err := otlptracegrpc.New(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(s.ServiceName), semconv.ServiceVersion(s.Version)),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win
	)
	if err != nil {
		return nil, nil, fmt.Errorf("tracing resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	return tp, tp.Shutdown, nil
}

// Start starts a span named name as a child of the span in ctx, with that
// span's tracer provider: a context without a recording span gets a span
// that records nothing.
func Start(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return trace.SpanFromContext(ctx).TracerProvider().Tracer(Instrumentation).Start(ctx, name, trace.WithAttributes(attrs...))
}

// End records err on the span, when there is one, and ends it.
func End(span trace.Span, err error) {
	Fail(span, err)
	span.End()
}

// Fail records err on the span and marks it failed; nil does nothing.
func Fail(span trace.Span, err error) {
	if err == nil {
		return
	}
	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())
}

// FromEvent returns ctx with the remote span context the event's
// traceparent and tracestate extensions carry, or ctx as it is when they
// carry none or an invalid one.
func FromEvent(ctx context.Context, e cloudevents.Event) context.Context {
	carrier := propagation.MapCarrier{}
	for _, ext := range []string{ExtTraceParent, ExtTraceState} {
		if v, ok := e.Extensions()[ext].(string); ok {
			carrier[ext] = v
		}
	}
	if carrier[ExtTraceParent] == "" {
		return ctx
	}
	return propagation.TraceContext{}.Extract(ctx, carrier)
}

// ToEvent sets the event's traceparent and tracestate to the span context
// in ctx. It leaves the event alone when ctx has no valid span context.
func ToEvent(ctx context.Context, e *cloudevents.Event) {
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	if carrier[ExtTraceParent] == "" {
		return
	}
	e.SetExtension(ExtTraceParent, carrier[ExtTraceParent])
	if ts := carrier[ExtTraceState]; ts != "" {
		e.SetExtension(ExtTraceState, ts)
	}
}
