package handler

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/helm-service/helm-service/pkg/deployed"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
	"github.com/helm-service/helm-service/pkg/timings"
)

// rollback carries out the rollback action: the service is reverted as a
// failed release reverts it (see lifecycle.revert): a direct service to
// its newest earlier deployed revision, a blue/green one to its primary,
// which gets all traffic while the canary is scaled to zero. Unlike a
// failed release, the action asks for the rollback itself: it reverts a
// direct service whatever ROLLBACK_DIRECT_ON_FAIL says, and whichever
// sequence made the revision it undoes.
func (a *Action) rollback(ctx context.Context, t Trigger, service string) (events.Finished, error) {
	if err := noCluster(a.releases, a.router, a.scaler); err != nil {
		return nil, err
	}
	namespace := t.Target.Namespace
	d, err := a.reverter.find(ctx, namespace, service)
	if err != nil {
		return nil, fmt.Errorf("roll back: %w", err)
	}
	outcome, msg, err := a.reverter.revert(ctx, t, d, madeBy(d))
	if err != nil {
		return nil, fmt.Errorf("roll back: %w", err)
	}
	outcome.Strategy, outcome.Namespace = string(d.Strategy), d.Namespace
	res := &events.ActionResult{Outcome: *outcome, Workloads: []events.WorkloadAction{}}
	switch {
	case outcome.Action != events.ActionRolledBack:
		res.Workloads = workloadActions(res.Workloads, d.Live(), "left as it is")
	case d.Strategy == events.StrategyBlueGreen:
		res.Workloads = workloadActions(res.Workloads, d.Primary, fmt.Sprintf("serves all traffic at revision %d (untouched)", d.Primary.Revision))
		if d.Canary != nil {
			res.Workloads = workloadActions(res.Workloads, d.Canary, "scaled to 0 replicas")
		}
	default:
		after, err := a.reverter.find(ctx, namespace, service)
		if err != nil {
			return nil, fmt.Errorf("rolled back, but the release cannot be read back: %w", err)
		}
		res.Workloads = workloadActions(res.Workloads, after.Live(), fmt.Sprintf("rolled back from revision %d, now at revision %d, ready", d.Live().Revision, outcome.HelmRevision))
	}
	out := &events.ActionFinished{Rollback: res}
	out.Message = msg
	return out, nil
}

// madeBy is the Keptn context of the revision a revert of d undoes: the
// rollback action reverts it whichever sequence made it.
func madeBy(d *deployed.Service) string {
	rec := d.Live()
	if d.Strategy == events.StrategyBlueGreen {
		rec = d.Canary
	}
	if rec == nil {
		return ""
	}
	return rec.Labels[kube.LabelContext]
}

// workloadActions appends the workloads of rec in its own namespace, each
// with did.
func workloadActions(out []events.WorkloadAction, rec *helm.Record, did string) []events.WorkloadAction {
	if rec == nil {
		return out
	}
	for _, w := range rec.Workloads {
		out = append(out, events.WorkloadAction{Kind: w.Kind, Name: w.Name, Release: rec.Name, Did: did})
	}
	return out
}

// restart carries out the restart action: a rolling restart of the
// workloads of the service's live releases (those scaling acts on), as
// `kubectl rollout restart` does, then a wait (WAIT_TIMEOUT) until each
// runs new pods only, all ready.
func (a *Action) restart(ctx context.Context, t Trigger, service string) (events.Finished, error) {
	if err := noCluster(a.releases, a.router, a.scaler, a.restarter); err != nil {
		return nil, err
	}
	namespace := t.Target.Namespace
	d, err := deployed.Find(ctx, a.releases, namespace, service)
	if err != nil {
		return nil, fmt.Errorf("restart: %w", err)
	}
	sides, why, err := a.sidesToScale(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("restart: %w", err)
	}
	serving := sides[0]
	res := &events.ActionResult{
		Outcome:   events.Outcome{Action: events.ActionRestarted, Strategy: string(d.Strategy), Namespace: namespace, ReleaseName: serving.Name, HelmRevision: serving.Revision},
		Workloads: []events.WorkloadAction{},
	}
	var workloads []kube.Workload
	for _, r := range sides {
		for _, w := range r.Workloads {
			workloads = append(workloads, w)
			res.Workloads = append(res.Workloads, events.WorkloadAction{Kind: w.Kind, Name: w.Name, Release: r.Name, Did: "restarted"})
		}
	}
	if len(workloads) == 0 {
		return nil, fmt.Errorf("restart: release %s/%s has no Deployment or StatefulSet in namespace %s%s", namespace, serving.Name, namespace, notRestarted(d.Foreign))
	}
	at := time.Now()
	applied := timings.Time(ctx, timings.Apply)
	var done []string
	for i, w := range workloads {
		stamp, err := a.restarter.Restart(ctx, w, at)
		if err != nil {
			applied()
			return nil, fmt.Errorf("restart release %s/%s%s: %w", namespace, serving.Name, restartedSoFar(done), err)
		}
		t.Log.Info("restarted", "workload", w.String(), "restartedAt", stamp)
		res.Workloads[i].RestartedAt = stamp
		done = append(done, w.String())
	}
	applied()
	waitCtx, cancel := context.WithTimeout(ctx, a.settings.WaitTimeout)
	defer cancel()
	waited := timings.Time(ctx, timings.Wait)
	err = a.restarter.WaitRolledOut(waitCtx, workloads)
	waited()
	if err != nil {
		return nil, fmt.Errorf("restart release %s/%s%s: %w", namespace, serving.Name, restartedSoFar(done), err)
	}
	out := &events.ActionFinished{Restart: res}
	out.Message = fmt.Sprintf("restarted release %s/%s%s: %s (pod template annotation %s=%s); every pod replaced, all ready%s",
		namespace, serving.Name, why, strings.Join(done, ", "), kube.AnnotationRestartedAt, res.Workloads[0].RestartedAt, notRestarted(d.Foreign))
	return out, nil
}

// restartedSoFar says which workloads were restarted before a failure.
func restartedSoFar(done []string) string {
	if len(done) == 0 {
		return ""
	}
	return " (restarted: " + strings.Join(done, ", ") + ")"
}

// notRestarted names the workloads a release record lists outside the
// release's namespace, which a restart leaves alone.
func notRestarted(foreign []kube.Workload) string {
	if len(foreign) == 0 {
		return ""
	}
	names := make([]string, len(foreign))
	for i, w := range foreign {
		names[i] = w.String()
	}
	return fmt.Sprintf("; not restarted: %s, which the release record lists outside the release's namespace (helm-service restarts only workloads in the release's own namespace)", strings.Join(names, ", "))
}
