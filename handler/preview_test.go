package handler

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// dryRunningTask is a deployment task whose triggers may be dry runs, as
// the Deployment tells them.
type dryRunningTask struct{ *overlapTask }

func (d dryRunningTask) DryRun(t Trigger) bool { return (&Deployment{}).DryRun(t) }

// TestDryRunNeitherSupersedesNorIsSuperseded: a dry run writes nothing,
// so a dry run of a release newer than a deployment of it does not make
// the deployment be skipped as superseded, and both run, in stream order.
func TestDryRunNeitherSupersedesNorIsSuperseded(t *testing.T) {
	task := dryRunningTask{&overlapTask{superseding: true}}
	ds, rec := replicas(t, 2, task)
	ctx := context.Background()
	dry := validTrigger()
	dry["deployment"] = map[string]any{"deploymentstrategy": "direct", "dryRun": true}

	ds[1].Handle(ctx, deliveryOfData(t, dry, "newer-dry-run", 5))
	ds[0].Handle(ctx, deliveryOf(t, "older", 3))
	ds[0].Handle(ctx, deliveryOfData(t, dry, "oldest-dry-run", 2))
	for id, d := range rec.finishedByID(t) {
		if len(d) != 1 || strings.Contains(d[0].Message, "superseded") {
			t.Errorf("trigger %s answered %+v, want it run", id, d)
		}
	}
	task.mu.Lock()
	defer task.mu.Unlock()
	if diff := cmp.Diff([]string{"newer-dry-run", "older", "oldest-dry-run"}, task.ran); diff != "" {
		t.Errorf("ran (-want +got):\n%s", diff)
	}
}
