package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/helm-service/helm-service/pkg/charts"
	"github.com/helm-service/helm-service/pkg/deployed"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
	"github.com/helm-service/helm-service/pkg/tracing"
	"github.com/helm-service/helm-service/pkg/vargroups"
)

// DeploymentSettings are the knobs of the deployment task.
type DeploymentSettings struct {
	// WaitTimeout bounds the wait for a release's workloads to be ready.
	WaitTimeout time.Duration
	// PublicURITemplate builds deploymentURIsPublic; see config.Config.
	PublicURITemplate string
	IngressProtocol   string
	IngressSuffix     string
	IngressPort       string
	// RouteMode is canary or dark: where a blue/green service's stable
	// endpoint sends traffic while a new version runs as the canary.
	RouteMode string
	// Rollout is the default update strategy of the charts' Deployments;
	// a trigger's deployment.rollout overrides it.
	Rollout kube.Rollout
	// ChartRefs are the charts a trigger may name (CHART_REF_ALLOWED); the
	// zero value allows none.
	ChartRefs charts.RefAllowlist
}

// Route modes of blue/green deployments.
const (
	RouteModeCanary = "canary"
	RouteModeDark   = "dark"
)

// Deployment handles sh.keptn.event.deployment.triggered: it installs or
// upgrades the service's chart in <project>-<stage>.
type Deployment struct {
	charts     ChartSource
	namespaces Namespaces
	releases   Releases
	router     Router
	scaler     Scaler
	settings   DeploymentSettings
	variables  Variables
	previewer  *previewer
}

// NewDeployment returns the deployment task. namespaces, releases, router
// and scaler are NoCluster (or nil, which stands for it) when no cluster
// is configured; every valid trigger is then answered with an error saying
// so. The dispatcher runs it in the lanes of the releases it writes (see
// TouchedReleases).
func NewDeployment(src ChartSource, namespaces Namespaces, releases Releases, router Router, scaler Scaler, settings DeploymentSettings) *Deployment {
	return &Deployment{
		charts:     tracedChartsOf(src),
		namespaces: clusterOr(namespaces),
		releases:   readOnceReleasesOf(tracedReleasesOf(clusterOr(releases))),
		router:     tracedRouterOf(clusterOr(router)),
		scaler:     clusterOr(scaler),
		settings:   settings,
	}
}

// WithVariables gives the task the variable groups: triggers may then set
// variables, and every deployment passes the groups to the chart's
// workloads. It returns d.
func (d *Deployment) WithVariables(v Variables) *Deployment {
	d.variables = v
	return d
}

// Name implements Task.
func (d *Deployment) Name() string { return events.TaskDeployment }

// maxReleaseName is Helm's limit on release names.
const maxReleaseName = 53

// Run implements Task.
func (d *Deployment) Run(ctx context.Context, t Trigger) (events.Finished, error) {
	in, err := decodeStrict[events.DeploymentTriggered](t.Event.Data(), t.Event.Type())
	if err != nil {
		return nil, err
	}
	if err := in.ValidateTarget(); err != nil {
		return nil, err
	}
	namespace := t.Target.Namespace
	if len(in.Service) > maxReleaseName {
		return nil, fmt.Errorf("service %q is longer than the %d characters Helm allows in a release name", in.Service, maxReleaseName)
	}
	strategy, err := events.ParseStrategy(in.Deployment.DeploymentStrategy)
	if err != nil {
		return nil, err
	}
	if len(deployed.PrimaryName(in.Service)) > maxReleaseName && strategy == events.StrategyBlueGreen {
		return nil, fmt.Errorf("service %q is too long for blue_green_service: its release %s-primary would exceed the %d characters Helm allows", in.Service, in.Service, maxReleaseName)
	}
	rollout, err := rolloutOf(d.settings.Rollout, in.Deployment.Rollout)
	if err != nil {
		return nil, err
	}
	ref, err := chartRef(t, in, d.settings.ChartRefs)
	if err != nil {
		return nil, err
	}
	varChanges, err := variableChanges(in.Deployment)
	if err != nil {
		return nil, err
	}
	// Before the chart is loaded: without a cluster nothing else is done.
	if err := noCluster(d.releases, d.namespaces, d.router, d.scaler); err != nil {
		return nil, err
	}

	ch, commit, err := charts.LoadCommit(ctx, d.charts, ref)
	if err != nil {
		return nil, err
	}
	gitCommit := deployedCommit(t, commit)
	if err := checkVersion(ref, ch); err != nil {
		return nil, err
	}
	_, mergeSpan := tracing.Start(ctx, "values.merge")
	values := charts.MergeValues(ch.Values, in.ConfigurationChange.Values)
	if strategy == events.StrategyDirect {
		values = charts.MergeValues(values, map[string]any{"keptn": map[string]any{
			"project": in.Project, "stage": in.Stage, "service": in.Service, "deployment": in.Service,
		}})
	}
	mergeSpan.End()
	target := map[string]string{kube.LabelProject: in.Project, kube.LabelStage: in.Stage, kube.LabelService: in.Service}

	if ctx, err = d.refuseSharedReleases(ctx, namespace, in.Service, strategy); err != nil {
		return nil, err
	}
	if in.Deployment.DryRun {
		return d.preview(ctx, t, in, ch, gitCommit, values, namespace, target, strategy, rollout, varChanges)
	}
	if err := d.namespaces.Ensure(ctx, namespace, target); err != nil {
		return nil, err
	}
	if strategy == events.StrategyBlueGreen {
		return d.deployBlueGreen(ctx, t, in, ch, gitCommit, values, namespace, target, rollout, varChanges)
	}
	vars, changedVars, err := d.applyVariables(ctx, namespace, in.Service, varChanges)
	if err != nil {
		return nil, err
	}
	labels := maps.Clone(target)
	labels[kube.LabelStrategy] = string(strategy)
	labels[kube.LabelDeployment] = string(strategy)
	addSequenceLabel(labels, t)
	var kept map[kube.Workload]int32
	var autoscaled []autoscaledCount
	switch cur, err := d.releases.Get(ctx, namespace, in.Service); {
	case errors.Is(err, helm.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		cur, _ = deployed.OwnWorkloads(cur, namespace)
		if kept, err = deployed.KeptReplicas(ctx, d.scaler, cur); err != nil {
			return nil, err
		}
		if autoscaled, err = dropAutoscaled(ctx, d.scaler, kept); err != nil {
			return nil, err
		}
	}
	t.Log.Info("deploying", "namespace", namespace, "release", in.Service, "chart", ch.Metadata.Name, "chartVersion", ch.Metadata.Version, "strategy", strategy, "keptReplicas", len(kept), "changedVariables", changedVars)
	res, err := d.releases.Upgrade(ctx, helm.Request{
		Namespace: namespace,
		Name:      in.Service,
		Chart:     ch,
		Values:    values,
		Labels:    labels,
		Timeout:   d.settings.WaitTimeout,
		Replicas:  kept,
		Rollout:   rollout,
		Variables: vars,
	})
	if err != nil {
		return nil, err
	}
	t.recordChange(installedOrUpgraded(res.Revision), namespace, in.Service, res.Images)

	out := &events.DeploymentFinished{Deployment: &events.Deployment{
		DeploymentStrategy:   string(strategy),
		DeploymentURIsLocal:  localURIs(res),
		DeploymentURIsPublic: []string{d.publicURI(in.Common, namespace)},
		DeploymentNames:      []string{string(strategy)},
		GitCommit:            gitCommit,
		Namespace:            namespace,
		ReleaseName:          res.Name,
		HelmRevision:         res.Revision,
		Rollout:              rolloutReport(rollout, res.ForcedRecreate),
		ChangedVariables:     changedVars,
	}}
	out.Message = fmt.Sprintf("release %s/%s is at revision %d (chart %s-%s) and its workloads are ready",
		namespace, res.Name, res.Revision, ch.Metadata.Name, ch.Metadata.Version)
	out.Message = withForcedRecreate(out.Message, res.ForcedRecreate)
	out.Message += forgetAutoscaled(ctx, d.scaler, autoscaled)
	if res.Recovered != "" {
		out.Message = res.Recovered + ". " + out.Message
	}
	return out, nil
}

// addSequenceLabel records on a release's labels the Keptn context of the
// sequence that deploys it, when it is a valid label value, so that a
// rollback can tell which sequence made a revision.
func addSequenceLabel(labels map[string]string, t Trigger) {
	if c := events.StringExtension(t.Event, events.ExtContext); c != "" && len(validation.IsValidLabelValue(c)) == 0 {
		labels[kube.LabelContext] = c
	}
}

// variableGroupChanges are the variables a trigger sets in the service's
// and in the global variable group.
type variableGroupChanges struct {
	global, service vargroups.Changes
}

// variableChanges validates deployment.variables and
// deployment.globalVariables of a trigger.
func variableChanges(in events.Deployment) (variableGroupChanges, error) {
	svc, err := vargroups.Parse("deployment.variables", in.Variables)
	if err != nil {
		return variableGroupChanges{}, err
	}
	global, err := vargroups.Parse("deployment.globalVariables", in.GlobalVariables)
	if err != nil {
		return variableGroupChanges{}, err
	}
	return variableGroupChanges{global: global, service: svc}, nil
}

// refuseWithoutGroups is the error for a trigger that sets variables
// where no variable groups are available, or nil.
func (c variableGroupChanges) refuseWithoutGroups() error {
	if len(c.global) > 0 || len(c.service) > 0 {
		return errors.New("field deployment.variables: variable groups are not available")
	}
	return nil
}

// applyVariables writes a trigger's variables to the groups and returns
// the post-renderer that gives the groups to the service's workloads,
// with the names of the variables that changed. Without variable groups
// configured it returns nil, and an error if the trigger sets variables.
func (d *Deployment) applyVariables(ctx context.Context, namespace, service string, c variableGroupChanges) (*helm.VariablesPostRenderer, []string, error) {
	if d.variables == nil {
		return nil, nil, c.refuseWithoutGroups()
	}
	changed, groups, err := d.variables.Apply(ctx, namespace, service, c.global, c.service)
	if err != nil {
		return nil, nil, err
	}
	return &helm.VariablesPostRenderer{
		Secrets:  []string{vargroups.GlobalSecret, vargroups.ServiceSecret(service)},
		Checksum: groups.Checksum(),
	}, changed, nil
}

// deployedCommit is the gitCommit a deployment reports: the commit its
// chart was read from when the chart source reads git (for a branch head
// too), else the trigger's gitcommitid, the configuration commit Keptn's
// helm-service echoed.
func deployedCommit(t Trigger, loaded string) string {
	if loaded != "" {
		return loaded
	}
	return events.StringExtension(t.Event, events.ExtGitCommitID)
}

// localURIs is the cluster-internal URI of the Service that selects the
// release's main workload (see helm.Result.MainService).
func localURIs(res *helm.Result) []string {
	s, ok := res.MainService()
	if !ok {
		return []string{}
	}
	return []string{fmt.Sprintf("http://%s.%s:%d", s.Name, s.Namespace, s.Port)}
}

// publicURI expands the public URI template for the service.
func (d *Deployment) publicURI(c events.Common, namespace string) string {
	vars := map[string]string{
		"INGRESS_PROTOCOL":        d.settings.IngressProtocol,
		"INGRESS_HOSTNAME_SUFFIX": d.settings.IngressSuffix,
		"INGRESS_PORT":            d.settings.IngressPort,
		"PROJECT":                 c.Project,
		"STAGE":                   c.Stage,
		"SERVICE":                 c.Service,
		"NAMESPACE":               namespace,
	}
	return os.Expand(d.settings.PublicURITemplate, func(k string) string { return vars[k] })
}

// decodeStrict decodes a trigger's data, refusing unknown types of values
// for known fields, and says which event's data is wrong.
func decodeStrict[T any](data []byte, eventType string) (*T, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("data of %s is empty: it needs project, stage and service", eventType)
	}
	out := new(T)
	if err := json.Unmarshal(data, out); err != nil {
		return nil, fmt.Errorf("data of %s is not valid: %w", eventType, describeJSONError(err))
	}
	return out, nil
}

// describeJSONError names the field of a type mismatch.
func describeJSONError(err error) error {
	if te, ok := err.(*json.UnmarshalTypeError); ok && te.Field != "" {
		return fmt.Errorf("field %s: got a JSON %s, want %s", te.Field, te.Value, te.Type)
	}
	return err
}
