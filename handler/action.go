package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/release"

	"github.com/helm-service/helm-service/pkg/deployed"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
	"github.com/helm-service/helm-service/pkg/routing"
	"github.com/helm-service/helm-service/pkg/timings"
)

// ActionSettings are the knobs of remediation actions.
type ActionSettings struct {
	// MaxReplicas is the most replicas scaling sets on a workload.
	MaxReplicas int32
	// WaitTimeout bounds the wait for the new replicas to be ready.
	WaitTimeout time.Duration
	// RouteMode is the blue/green route mode (RouteModeCanary or
	// RouteModeDark).
	RouteMode string
}

// Action handles sh.keptn.event.action.triggered for the scaling,
// rollback and restart actions. Scaling adds the action's value to the
// replicas of the service's live workloads (a blue/green service's
// primary, and its canary while that receives traffic) and records the
// new count so that later deployments keep it. Rollback reverts the
// service as a failed release does. Restart replaces the pods of the live
// workloads, as `kubectl rollout restart` does. Other actions are not
// helm-service's.
type Action struct {
	releases  Releases
	router    Router
	scaler    Scaler
	restarter Restarter
	// reverter reverts for the rollback action: as a failed release does,
	// a direct service too.
	reverter lifecycle
	settings ActionSettings
}

// Restarter restarts workloads; kube.Scaler implements it.
type Restarter interface {
	// Restart starts a rolling restart of a workload, stamped at, and
	// returns the stamp it set on the pod template.
	Restart(ctx context.Context, w kube.Workload, at time.Time) (string, error)
	// WaitRolledOut waits until the workloads run their current pod
	// template only, all ready.
	WaitRolledOut(ctx context.Context, workloads []kube.Workload) error
}

// NewAction returns the action task. releases, router, scaler and
// restarter are NoCluster (or nil, which stands for it) when no cluster is
// configured. The dispatcher runs it in the lanes of every release the
// service can have.
func NewAction(releases Releases, router Router, scaler Scaler, restarter Restarter, settings ActionSettings) *Action {
	return &Action{
		releases: tracedReleasesOf(clusterOr(releases)), router: tracedRouterOf(clusterOr(router)), scaler: clusterOr(scaler), restarter: clusterOr(restarter),
		reverter: newLifecycle(releases, router, scaler, LifecycleSettings{WaitTimeout: settings.WaitTimeout, RollbackDirectOnFail: true}),
		settings: settings,
	}
}

// Name implements Task.
func (a *Action) Name() string { return events.TaskAction }

// Accepts implements Accepter: only scaling, rollback and restart are
// helm-service's.
func (a *Action) Accepts(t Trigger) bool {
	var in struct {
		Action struct {
			Action string `json:"action"`
		} `json:"action"`
	}
	_ = json.Unmarshal(t.Event.Data(), &in)
	switch in.Action.Action {
	case events.ActionScaling, events.ActionRollback, events.ActionRestart:
		return true
	}
	return false
}

// Run implements Task.
func (a *Action) Run(ctx context.Context, t Trigger) (events.Finished, error) {
	in, err := decodeStrict[events.ActionTriggered](t.Event.Data(), t.Event.Type())
	if err != nil {
		return nil, err
	}
	if err := in.ValidateTarget(); err != nil {
		return nil, err
	}
	switch in.Action.Action {
	case events.ActionRollback:
		return a.rollback(ctx, t, in.Service)
	case events.ActionRestart:
		return a.restart(ctx, t, in.Service)
	}
	delta, err := parseIncrement(in.Action.Value)
	if err != nil {
		return nil, err
	}
	// Before the releases are read, whose error scaling would wrap.
	if err := noCluster(a.releases, a.scaler); err != nil {
		return nil, err
	}
	namespace := t.Target.Namespace
	d, err := deployed.Find(ctx, a.releases, namespace, in.Service)
	if err != nil {
		return nil, fmt.Errorf("scale: %w", err)
	}
	sides, why, err := a.sidesToScale(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("scale: %w", err)
	}
	serving := sides[0]
	var workloads []kube.Workload
	for _, r := range sides {
		workloads = append(workloads, r.Workloads...)
	}
	if len(workloads) == 0 {
		return nil, fmt.Errorf("scale: release %s/%s has no Deployment or StatefulSet in namespace %s%s", namespace, serving.Name, namespace, notScaled(d.Foreign))
	}
	// Refuse before changing anything: scaling a workload that an HPA
	// manages would fight the HPA, and one at MAX_REPLICAS cannot grow.
	for _, w := range workloads {
		hpa, err := a.scaler.Autoscaler(ctx, w)
		if err != nil {
			return nil, fmt.Errorf("scale: %w", err)
		}
		if hpa != "" {
			return nil, fmt.Errorf("scale: %s is managed by HorizontalPodAutoscaler %s/%s: helm-service does not scale it; change the autoscaler's minReplicas/maxReplicas in the chart instead", w, w.Namespace, hpa)
		}
	}
	for _, w := range workloads {
		cur, err := a.scaler.Replicas(ctx, w)
		if err != nil {
			return nil, fmt.Errorf("scale: %w", err)
		}
		if _, err := kube.NextReplicas(cur, delta, a.settings.MaxReplicas); err != nil {
			return nil, fmt.Errorf("scale release %s/%s by %+d: %s: %w", namespace, serving.Name, delta, w, err)
		}
	}

	out := &events.ActionFinished{Scaling: &events.Scaling{Namespace: namespace, ReleaseName: serving.Name, Increment: delta}}
	var changes []string
	applied := timings.Time(ctx, timings.Apply)
	for _, w := range workloads {
		c, err := a.scaler.ScaleBy(ctx, w, delta, a.settings.MaxReplicas)
		if err != nil {
			return nil, fmt.Errorf("scale release %s/%s by %+d%s: %w", namespace, serving.Name, delta, done(changes), err)
		}
		t.Log.Info("scaled", "workload", w.String(), "from", c.From, "to", c.To)
		out.Scaling.Workloads = append(out.Scaling.Workloads, events.WorkloadScaling{Kind: w.Kind, Name: w.Name, From: c.From, To: c.To})
		changes = append(changes, c.String()+a.capped(c, delta))
	}
	applied()
	waitCtx, cancel := context.WithTimeout(ctx, a.settings.WaitTimeout)
	defer cancel()
	waited := timings.Time(ctx, timings.Wait)
	err = a.scaler.WaitScaled(waitCtx, workloads)
	waited()
	if err != nil {
		return nil, fmt.Errorf("scale release %s/%s by %+d%s: %w", namespace, serving.Name, delta, done(changes), err)
	}
	out.Message = fmt.Sprintf("scaled release %s/%s by %+d (at most %d replicas)%s: %s; all replicas ready%s", namespace, serving.Name, delta, a.settings.MaxReplicas, why, strings.Join(changes, ", "), notScaled(d.Foreign))
	return out, nil
}

// sidesToScale returns the releases whose workloads a scaling changes, the
// one serving traffic first, and why when there are two. That is the
// release of a direct or user_managed service and the primary of a
// blue/green one; with ROUTE_MODE=canary and a live canary (deployed, with
// replicas, receiving traffic) the canary and the primary, which serves
// again after a promotion or a rollback.
func (a *Action) sidesToScale(ctx context.Context, d *deployed.Service) ([]*helm.Record, string, error) {
	primary := []*helm.Record{d.Live()}
	c := d.Canary
	if d.Strategy != events.StrategyBlueGreen || a.settings.RouteMode != RouteModeCanary || isNoCluster(a.router) || c == nil || c.Status != release.StatusDeployed.String() || len(c.Workloads) == 0 {
		return primary, "", nil
	}
	target, err := d.Target()
	if err != nil {
		return nil, "", err
	}
	split, err := a.router.Split(ctx, target)
	if errors.Is(err, routing.ErrNotRouted) {
		return primary, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("read where the traffic of %s/%s goes: %w", d.Namespace, d.Name, err)
	}
	if split.Canary == 0 {
		return primary, "", nil
	}
	for _, w := range c.Workloads {
		n, err := a.scaler.Replicas(ctx, w)
		if err != nil {
			return nil, "", err
		}
		if n > 0 {
			why := fmt.Sprintf(" on both sides: canary %s/%s receives traffic (%s), primary %s/%s serves it again after a promotion or a rollback", d.Namespace, c.Name, split, d.Namespace, d.Primary.Name)
			return []*helm.Record{c, d.Primary}, why, nil
		}
	}
	return primary, "", nil
}

// capped says when a change stopped at MAX_REPLICAS short of what the
// increment asked for.
func (a *Action) capped(c kube.Change, delta int32) string {
	asked := int64(c.From) + int64(delta)
	if delta <= 0 || asked <= int64(c.To) {
		return ""
	}
	return fmt.Sprintf(" (capped at MAX_REPLICAS %d; %+d asked for %d)", a.settings.MaxReplicas, delta, asked)
}

// notScaled names the workloads a release record lists outside the
// release's namespace, which scaling leaves alone.
func notScaled(foreign []kube.Workload) string {
	if len(foreign) == 0 {
		return ""
	}
	names := make([]string, len(foreign))
	for i, w := range foreign {
		names[i] = w.String()
	}
	return fmt.Sprintf("; not scaled: %s, which the release record lists outside the release's namespace (helm-service scales only workloads in the release's own namespace)", strings.Join(names, ", "))
}

// done says which changes were made before a failure.
func done(changes []string) string {
	if len(changes) == 0 {
		return ""
	}
	return " (done: " + strings.Join(changes, ", ") + ")"
}

// parseIncrement reads action.value of a scaling action: a whole number,
// as a JSON number or a string such as "1", "+2" or "-1".
func parseIncrement(raw json.RawMessage) (int32, error) {
	const want = `want a whole number of replicas to add, such as 1, "+2" or "-1"`
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return 0, fmt.Errorf("action.value is missing: %s", want)
	}
	text := string(raw)
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		text = strings.TrimSpace(s)
	} else if raw[0] == '"' || raw[0] == '{' || raw[0] == '[' || raw[0] == 't' || raw[0] == 'f' {
		return 0, fmt.Errorf("action.value %s is not a replica increment: %s", raw, want)
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("action.value %s is not a replica increment: %s", raw, want)
	}
	if n > math.MaxInt32 || n < math.MinInt32 {
		return 0, fmt.Errorf("action.value %s is out of range: %s", raw, want)
	}
	return int32(n), nil
}

// autoscaledCount is a count kept from a scaling on a workload that a
// HorizontalPodAutoscaler now targets.
type autoscaledCount struct {
	workload   kube.Workload
	count      int32
	autoscaler string
}

// dropAutoscaled takes out of kept the workloads a HorizontalPodAutoscaler
// now targets: the autoscaler owns their replicas, and a deployment that
// set the kept count would fight it. It returns what it took out, for
// forgetAutoscaled once the deployment succeeded.
func dropAutoscaled(ctx context.Context, scaler Scaler, kept map[kube.Workload]int32) ([]autoscaledCount, error) {
	workloads := slices.SortedFunc(maps.Keys(kept), func(a, b kube.Workload) int { return strings.Compare(a.String(), b.String()) })
	var dropped []autoscaledCount
	for _, w := range workloads {
		hpa, err := scaler.Autoscaler(ctx, w)
		if err != nil {
			return nil, fmt.Errorf("replicas kept from a scaling on %s: %w", w, err)
		}
		if hpa == "" {
			continue
		}
		dropped = append(dropped, autoscaledCount{workload: w, count: kept[w], autoscaler: hpa})
		delete(kept, w)
	}
	return dropped, nil
}

// forgetAutoscaled removes the kept counts dropAutoscaled took out from
// their workloads, so that no later deployment reads them, and says so for
// the deployment's answer.
func forgetAutoscaled(ctx context.Context, scaler Scaler, dropped []autoscaledCount) string {
	var msg strings.Builder
	for _, a := range dropped {
		fmt.Fprintf(&msg, "; dropped the replica count kept from a scaling on %s (%d): HorizontalPodAutoscaler %s/%s now targets it and owns its replicas", a.workload, a.count, a.workload.Namespace, a.autoscaler)
		if err := scaler.DropKept(ctx, a.workload); err != nil {
			fmt.Fprintf(&msg, ", but removing its %s annotation failed (the next deployment tries again): %v", kube.AnnotationReplicas, err)
		}
	}
	return msg.String()
}

// TouchedReleases implements ReleaseToucher: scaling acts on the live
// release, <service> or <service>-primary.
func (a *Action) TouchedReleases(t Trigger) []string { return deployed.ReleaseNames(t.Common.Service) }
