package tracing

import (
	"context"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.opentelemetry.io/otel/trace"
)

func TestTraceContextRoundTripsThroughEvents(t *testing.T) {
	in := cloudevents.NewEvent()
	in.SetExtension(ExtTraceParent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	in.SetExtension(ExtTraceState, "vendor=value")
	ctx := FromEvent(context.Background(), in)
	sc := trace.SpanContextFromContext(ctx)
	if sc.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || sc.SpanID().String() != "00f067aa0ba902b7" || !sc.IsRemote() || !sc.IsSampled() {
		t.Fatalf("span context %+v", sc)
	}
	out := cloudevents.NewEvent()
	ToEvent(ctx, &out)
	if out.Extensions()[ExtTraceParent] != in.Extensions()[ExtTraceParent] || out.Extensions()[ExtTraceState] != "vendor=value" {
		t.Errorf("extensions %v, want the same trace context", out.Extensions())
	}
}

func TestInvalidTraceParentIsIgnored(t *testing.T) {
	for _, tp := range []string{"", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"} {
		in := cloudevents.NewEvent()
		if tp != "" {
			in.SetExtension(ExtTraceParent, tp)
		}
		ctx := FromEvent(context.Background(), in)
		if trace.SpanContextFromContext(ctx).IsValid() {
			t.Errorf("traceparent %q gave a valid span context", tp)
		}
		out := cloudevents.NewEvent()
		ToEvent(ctx, &out)
		if _, ok := out.Extensions()[ExtTraceParent]; ok {
			t.Errorf("traceparent %q: answer got %v", tp, out.Extensions())
		}
	}
}

func TestDisabledProviderRecordsNothing(t *testing.T) {
	tp, shutdown, err := NewProvider(context.Background(), Settings{})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tp.Tracer(Instrumentation).Start(context.Background(), "task")
	if span.IsRecording() {
		t.Error("disabled provider records spans")
	}
	if err := shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}
