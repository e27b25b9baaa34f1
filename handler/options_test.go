package handler

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/trace/noop"
)

// TestOptionsWithDefaults: the zero value gets MaxParallel 4, a tracer
// that traces nothing and an observer that observes nothing; Heartbeat,
// PublishTimeout and RetryBackoff stay zero, for the defaults of answer
// and retry; values that are set stay.
func TestOptionsWithDefaults(t *testing.T) {
	type shown struct {
		MaxParallel                             int
		Heartbeat, PublishTimeout, RetryBackoff time.Duration
		TracerProvider, Observer                string
	}
	show := func(o Options) shown {
		return shown{
			MaxParallel: o.MaxParallel, Heartbeat: o.Heartbeat, PublishTimeout: o.PublishTimeout, RetryBackoff: o.RetryBackoff,
			TracerProvider: fmt.Sprintf("%T", o.TracerProvider), Observer: fmt.Sprintf("%T", o.Observer),
		}
	}
	for _, tc := range []struct {
		name string
		in   Options
		want shown
	}{{
		name: "zero",
		want: shown{MaxParallel: 4, TracerProvider: "noop.TracerProvider", Observer: "handler.noObserver"},
	}, {
		name: "negative parallel",
		in:   Options{MaxParallel: -1},
		want: shown{MaxParallel: 4, TracerProvider: "noop.TracerProvider", Observer: "handler.noObserver"},
	}, {
		name: "set",
		in: Options{
			MaxParallel: 9, Heartbeat: time.Second, PublishTimeout: time.Minute, RetryBackoff: time.Millisecond,
			TracerProvider: noop.NewTracerProvider(), Observer: countingObserver{},
		},
		want: shown{MaxParallel: 9, Heartbeat: time.Second, PublishTimeout: time.Minute, RetryBackoff: time.Millisecond, TracerProvider: "noop.TracerProvider", Observer: "handler.countingObserver"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, show(tc.in.withDefaults())); diff != "" {
				t.Errorf("withDefaults (-want +got):\n%s", diff)
			}
		})
	}
}

// countingObserver is an Observer other than the default one.
type countingObserver struct{ noObserver }
