package main

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/helm-service/helm-service/pkg/config"
	"github.com/helm-service/helm-service/pkg/metrics"
)

// TestDispatcherOptionsFromConfig builds the dispatcher's options as serve
// does, for the default configuration and for one that sets every value
// they derive from: none of the values that handler or answer default is
// left zero, and each is the configuration's.
func TestDispatcherOptionsFromConfig(t *testing.T) {
	type defaulted struct {
		MaxParallel               int
		Heartbeat, PublishTimeout time.Duration
		RetryBackoff              time.Duration
		HasTracer, HasObserver    bool
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want defaulted
	}{{
		name: "defaults",
		want: defaulted{MaxParallel: config.DefaultParallelTasks(), Heartbeat: 10 * time.Second, PublishTimeout: 90 * time.Second, RetryBackoff: time.Second, HasTracer: true, HasObserver: true},
	}, {
		name: "set",
		env:  map[string]string{"MAX_PARALLEL_TASKS": "2", "NATS_ACK_WAIT": "90s", "SHUTDOWN_GRACE": "5s"},
		want: defaulted{MaxParallel: 2, Heartbeat: 30 * time.Second, PublishTimeout: 65 * time.Second, RetryBackoff: time.Second, HasTracer: true, HasObserver: true},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			cfg, err := config.Load()
			if err != nil {
				t.Fatal(err)
			}
			opts := dispatcherOptions(cfg, nil, nil, noop.NewTracerProvider(), metrics.New())
			got := defaulted{
				MaxParallel: opts.MaxParallel, Heartbeat: opts.Heartbeat, PublishTimeout: opts.PublishTimeout, RetryBackoff: opts.RetryBackoff,
				HasTracer: opts.TracerProvider != nil, HasObserver: opts.Observer != nil,
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("dispatcher options (-want +got):\n%s", diff)
			}
		})
	}
}
