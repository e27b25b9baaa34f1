package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
)

// ActionSettings are the knobs of remediation actions.
type ActionSettings struct {
	// MaxReplicas is the most replicas scaling sets on a workload.
	MaxReplicas int32
	// WaitTimeout bounds the wait for the new replicas to be ready.
	WaitTimeout time.Duration
	// NamespaceTemplate computes a service's namespace; nil means
	// <project>-<stage>.
	NamespaceTemplate *kube.NamespaceTemplate
}

// Action handles sh.keptn.event.action.triggered for the scaling action:
// it adds the action's value to the replicas of the service's live
// workloads (a blue/green service's primary) and records the new count so
// that later deployments keep it. Other actions are not helm-service's.
type Action struct {
	releases Releases
	scaler   Scaler
	locks    *Locks
	settings ActionSettings
}

// NewAction returns the action task. releases and scaler are nil when no
// cluster is configured. locks are shared with the other tasks.
func NewAction(releases Releases, scaler Scaler, locks *Locks, settings ActionSettings) *Action {
	return &Action{releases: tracedReleasesOf(releases), scaler: scaler, locks: locks, settings: settings}
}

// Name implements Task.
func (a *Action) Name() string { return events.TaskAction }

// Accepts implements Accepter: only the scaling action is helm-service's.
func (a *Action) Accepts(t Trigger) bool {
	var in struct {
		Action struct {
			Action string `json:"action"`
		} `json:"action"`
	}
	_ = json.Unmarshal(t.Event.Data(), &in)
	return in.Action.Action == events.ActionScaling
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
	delta, err := parseIncrement(in.Action.Value)
	if err != nil {
		return nil, err
	}
	if a.releases == nil || a.scaler == nil {
		return nil, kube.ErrNoCluster
	}
	namespace, err := targetNamespace(a.settings.NamespaceTemplate, in.Common)
	if err != nil {
		return nil, err
	}
	unlock := a.locks.Lock(releaseKeys(namespace, serviceReleases(in.Service))...)
	defer unlock()
	d, err := findDeployed(ctx, a.releases, namespace, in.Service)
	if err != nil {
		return nil, fmt.Errorf("scale: %w", err)
	}
	live := d.direct
	if d.strategy == events.StrategyBlueGreen {
		live = d.primary
	}
	if len(live.Workloads) == 0 {
		return nil, fmt.Errorf("scale: release %s/%s has no Deployment or StatefulSet", namespace, live.Name)
	}
	// Refuse before changing anything: scaling a workload that an HPA
	// manages would fight the HPA.
	for _, w := range live.Workloads {
		hpa, err := a.scaler.Autoscaler(ctx, w)
		if err != nil {
			return nil, fmt.Errorf("scale: %w", err)
		}
		if hpa != "" {
			return nil, fmt.Errorf("scale: %s is managed by HorizontalPodAutoscaler %s/%s: helm-service does not scale it; change the autoscaler's minReplicas/maxReplicas in the chart instead", w, w.Namespace, hpa)
		}
	}

	out := &events.ActionFinished{Scaling: &events.Scaling{Namespace: namespace, ReleaseName: live.Name, Increment: delta}}
	var changes []string
	for _, w := range live.Workloads {
		c, err := a.scaler.ScaleBy(ctx, w, delta, a.settings.MaxReplicas)
		if err != nil {
			return nil, fmt.Errorf("scale release %s/%s by %+d%s: %w", namespace, live.Name, delta, done(changes), err)
		}
		t.Log.Info("scaled", "workload", w.String(), "from", c.From, "to", c.To)
		out.Scaling.Workloads = append(out.Scaling.Workloads, events.WorkloadScaling{Kind: w.Kind, Name: w.Name, From: c.From, To: c.To})
		changes = append(changes, c.String())
	}
	waitCtx, cancel := context.WithTimeout(ctx, a.settings.WaitTimeout)
	defer cancel()
	if err := a.scaler.WaitScaled(waitCtx, live.Workloads); err != nil {
		return nil, fmt.Errorf("scale release %s/%s by %+d%s: %w", namespace, live.Name, delta, done(changes), err)
	}
	out.Message = fmt.Sprintf("scaled release %s/%s by %+d (at most %d replicas): %s; all replicas ready", namespace, live.Name, delta, a.settings.MaxReplicas, strings.Join(changes, ", "))
	return out, nil
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

// keptReplicas returns the replica counts scaling recorded on a release's
// workloads, for the next deployment of the release to keep.
func keptReplicas(ctx context.Context, scaler Scaler, rec *helm.Record) (map[kube.Workload]int32, error) {
	if rec == nil || len(rec.Workloads) == 0 {
		return nil, nil
	}
	kept, err := scaler.Kept(ctx, rec.Workloads)
	if err != nil {
		return nil, fmt.Errorf("replicas set by scaling on release %s/%s: %w", rec.Namespace, rec.Name, err)
	}
	return kept, nil
}
