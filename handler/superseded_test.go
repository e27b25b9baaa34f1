package handler

import (
	"context"
	"strings"
	"testing"

	"github.com/helm-service/helm-service/pkg/metrics"
)

// TestSupersededOnAnotherReplicaIsCountedAsSuperseded: a deployment older
// than one that ran on another replica is answered superseded, and
// counted so, not as an error.
func TestSupersededOnAnotherReplicaIsCountedAsSuperseded(t *testing.T) {
	task := &overlapTask{superseding: true}
	ds, rec := replicas(t, 2, task)
	m := metrics.New()
	ds[0] = NewDispatcher("helm-service", ds[0].pub, quiet, []Task{task}, Options{Leases: ds[0].opts.Leases, Ledger: ds[0].opts.Ledger, Observer: m})
	ctx := context.Background()
	ds[1].Handle(ctx, deliveryOf(t, "newer", 5))
	ds[0].Handle(ctx, deliveryOf(t, "older", 3))
	if d := rec.finishedByID(t)["older"]; len(d) != 1 || !strings.Contains(d[0].Message, "superseded by trigger newer") {
		t.Fatalf("older trigger answered %+v, want superseded by newer", d)
	}
	for result, want := range map[string]float64{"superseded": 1, "errored": 0} {
		if got := counterValue(t, m, "helm_service_tasks_total", map[string]string{"task": "deployment", "result": result}); got != want {
			t.Errorf("tasks_total{deployment,%s} = %v, want %v", result, got, want)
		}
	}
}
